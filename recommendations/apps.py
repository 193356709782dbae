from __future__ import annotations

from django.apps import AppConfig

from tenants.console.nav import NavItem, register_nav


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recommendations.console.charts import recommendations_dashboard_charts
        from tenants.console.views import register_dashboard_chart

        register_nav(NavItem("Recommendations", "recs:catalog", "catalog.read", 30))
        register_dashboard_chart("catalog.read", recommendations_dashboard_charts)
