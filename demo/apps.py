from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The top layer: `manage.py seed_demo`, its synthetic data and `make run`'s supervisor.

    Nothing in production depends on it, and it may import every other app."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
