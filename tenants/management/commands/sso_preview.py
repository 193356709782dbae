from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.services.sso import sso_desired_roles, sso_map_claims


class Command(BaseCommand):
    help = "Show which memberships a set of OIDC claims would yield (no changes are made)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("claims", help='JSON claims, e.g. \'{"groups": ["acme:admin"]}\'')

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            claims = json.loads(opts["claims"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"claims must be JSON: {exc}") from exc
        if not isinstance(claims, dict):
            raise CommandError("claims must be a JSON object")
        mappings = sso_map_claims(claims)
        out = {
            "memberships": sso_desired_roles(mappings),
            "values": [m.__dict__ for m in mappings],
        }
        self.stdout.write(json.dumps(out, indent=2))
