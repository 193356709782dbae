from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.services.sso import sso_desired_roles, sso_known_issuers, sso_map_claims


class Command(BaseCommand):
    help = "Show which memberships a set of OIDC claims from an issuer would yield (no changes are made)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("claims", help='JSON claims, e.g. \'{"groups": ["acme:admin"]}\'')
        parser.add_argument(
            "--issuer",
            default="",
            help="the IdP issuer the claims come from (default: OIDC_OP_ISSUER, else the claims' iss)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            claims = json.loads(opts["claims"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"claims must be JSON: {exc}") from exc
        if not isinstance(claims, dict):
            raise CommandError("claims must be a JSON object")
        known = sso_known_issuers()
        issuer = opts.get("issuer") or (known[0] if known else str(claims.get("iss") or ""))
        mappings = sso_map_claims(claims, issuer=issuer)
        out = {
            "issuer": issuer,
            "memberships": sso_desired_roles(mappings),
            "values": [m.__dict__ for m in mappings],
        }
        self.stdout.write(json.dumps(out, indent=2))
