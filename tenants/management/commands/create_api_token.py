from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.exceptions import ApplicationError
from tenants.actors import Actor
from tenants.models import Membership, Tenant
from tenants.services import token_create


class Command(BaseCommand):
    help = "Issue an API token for a member of a tenant; prints the secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--user", required=True, help="member's email or username")
        parser.add_argument("--scopes", default="read", help="comma-separated: read,write,qa,recommend,deploy,admin")
        parser.add_argument("--expires", help="ISO datetime, or a number of days (e.g. 30)")
        parser.add_argument("--name", default="cli token")
        parser.add_argument("--allowed-ips", default="", help="comma-separated CIDRs")

    def handle(self, *args: Any, **opts: Any) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant '{opts['tenant']}'.")
        ident = opts["user"].strip()
        membership = (
            Membership.objects.for_tenant(tenant).select_related("user").filter(user__email__iexact=ident).first()
            or Membership.objects.for_tenant(tenant).select_related("user").filter(user__username=ident).first()
        )
        if membership is None:
            raise CommandError(f"'{ident}' is not a member of '{tenant.slug}'.")
        expires_at = None
        if opts.get("expires"):
            raw = opts["expires"]
            expires_at = timezone.now() + dt.timedelta(days=int(raw)) if raw.isdigit() else parse_datetime(raw)
            if expires_at is None:
                raise CommandError("--expires must be an ISO datetime or a number of days.")
            if timezone.is_naive(expires_at):
                expires_at = timezone.make_aware(expires_at, dt.UTC)
        try:
            issued = token_create(
                tenant=tenant,
                actor=Actor.system(label="manage.py create_api_token"),
                membership=membership,
                name=opts["name"],
                scopes=[s.strip() for s in opts["scopes"].split(",") if s.strip()],
                expires_at=expires_at,
                allowed_ips=[s for s in opts["allowed_ips"].split(",") if s.strip()],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(issued.plaintext)
