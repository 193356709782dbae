from __future__ import annotations

from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.metrics import register_request_observer
        from tenants.console.nav import NavItem, register_nav
        from tenants.console.views import DASHBOARD_CARDS, register_dashboard_chart
        from usage.console.charts import usage_dashboard_charts
        from usage.console.views import usage_dashboard_cards
        from usage.observe import observe_request

        register_nav(NavItem("Usage", "usage:summary", "usage.view", 70))
        register_dashboard_chart("usage.view", usage_dashboard_charts)
        register_request_observer(observe_request)
        if usage_dashboard_cards not in DASHBOARD_CARDS:
            DASHBOARD_CARDS.append(usage_dashboard_cards)
