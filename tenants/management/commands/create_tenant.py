from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tenants.actors import Actor
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant with an owner (creating the owner user if needed; prints a generated password)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--password", help="Password for a newly created owner (default: generated)")

    def handle(self, *args: Any, **opts: Any) -> None:
        User = get_user_model()
        email = opts["owner_email"].strip().lower()
        password = None
        # One transaction: a refused tenant (bad or taken slug) must not leave a new owner
        # account behind whose password was never shown.
        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                password = opts.get("password") or secrets.token_urlsafe(12)
                user = User.objects.create_user(username=email, email=email, password=password)
            try:
                tenant = tenant_create(
                    actor=Actor.system(label="manage.py create_tenant"),
                    slug=opts["slug"],
                    name=opts["name"],
                    owner=user,
                )
            except ValidationError as exc:
                detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                raise CommandError(detail) from exc
        self.stdout.write(self.style.SUCCESS(f"Created tenant '{tenant.slug}' with owner {email}"))
        if password:
            self.stdout.write(f"Owner login: {email} / {password}")
