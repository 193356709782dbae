from __future__ import annotations

from django.apps import AppConfig

from tenants.console.nav import NavItem, register_nav


class DeployConfig(AppConfig):
    name = "deploy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        register_nav(NavItem("Deployments", "deploy:list", "deploy.read", 40))
        register_nav(NavItem("Clusters", "deploy:clusters", "deploy.read", 41))
        from deploy.capacity.pricing import gpu_usd_per_hour
        from usage.registry import register_gpu_price

        # Inference seconds are priced from the same GPU catalog the capacity planner uses.
        register_gpu_price(gpu_usd_per_hour)
