from __future__ import annotations

from django.apps import AppConfig


class DeployConfig(AppConfig):
    name = "deploy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.console.nav import NavItem, register_nav

        register_nav(NavItem("Deployments", "deploy:list", "deploy.read", 40))
        register_nav(NavItem("Clusters", "deploy:clusters", "deploy.read", 41))
