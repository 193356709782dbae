from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.audit import audit_chain_heads
from tenants.models import Tenant
from tenants.services import audit_verify_all, audit_verify_chain


class Command(BaseCommand):
    help = "Recompute the keyed audit hash chains, check their heads, and name the first broken link of each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's chain (slug)")
        parser.add_argument(
            "--show-heads",
            action="store_true",
            help="print each chain's newest seq and hash, to keep a copy outside the database",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts.get("tenant"):
            tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
            if tenant is None:
                raise CommandError(f"Unknown tenant '{opts['tenant']}'.")
            brk = audit_verify_chain(tenant_id=tenant.pk)
            breaks = [brk] if brk else []
        else:
            breaks = audit_verify_all()
        if opts.get("show_heads"):
            for head in audit_chain_heads():
                self.stdout.write(f"{head.key} seq={head.last_seq} hash={head.last_hash}")
        if not breaks:
            self.stdout.write(self.style.SUCCESS("Audit log intact: every chain verifies."))
            return
        for b in breaks:
            self.stderr.write(f"BROKEN {b.chain}: first bad link is event #{b.seq} (id {b.event_id}): {b.reason}")
        first = breaks[0]
        raise CommandError(
            f"{len(breaks)} audit chain(s) broken; first bad link in {first.chain} is event #{first.seq}: "
            f"{first.reason}"
        )
