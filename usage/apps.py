from __future__ import annotations

from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.console.nav import NavItem, register_nav
        from tenants.console.views import DASHBOARD_CARDS
        from usage.console.views import usage_dashboard_cards

        register_nav(NavItem("Usage", "usage:summary", "usage.view", 70))
        if usage_dashboard_cards not in DASHBOARD_CARDS:
            DASHBOARD_CARDS.append(usage_dashboard_cards)
