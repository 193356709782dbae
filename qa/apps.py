from __future__ import annotations

from django.apps import AppConfig


class QaConfig(AppConfig):
    name = "qa"
    verbose_name = "Document Q&A"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from qa.console.charts import qa_dashboard_charts
        from tenants.console.nav import NavItem, register_nav
        from tenants.console.views import register_dashboard_chart

        register_nav(NavItem("Ask", "qa:chat", "qa.ask", 20))
        register_dashboard_chart("qa.read", qa_dashboard_charts)
