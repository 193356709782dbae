from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import tenant_create

DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Create the demo tenant and its owner (idempotent) and print the login."

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        cred_file = settings.VAR_DIR / "demo-credentials.txt"
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            password = secrets.token_urlsafe(10)
            user = User.objects.create_user(username=DEMO_EMAIL, email=DEMO_EMAIL, password=password)
            cred_file.parent.mkdir(parents=True, exist_ok=True)
            cred_file.write_text(password)
        password = cred_file.read_text().strip() if cred_file.exists() else "(unchanged; see var/)"
        if not Tenant.objects.filter(slug="demo").exists():
            tenant_create(actor=Actor.system(label="seed_demo"), slug="demo", name="Demo Company", owner=user)
        self.stdout.write(self.style.SUCCESS(f"Demo tenant 'demo' — owner login: {DEMO_EMAIL} / {password}"))
