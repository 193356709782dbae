"""Re-ingest documents after the embedding model or the chunk format changed.

    manage.py reindex_documents [--tenant SLUG] [--all]

Queues ``documents.ingest`` for every ready/failed document whose vectors were made by another
model than the configured one (``--all``: every document). Each document stays searchable with
its old generation until the new one is complete.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.services import documents_reindex
from models_registry.backends import get_embedder
from tenants.actors import Actor
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Queue a re-ingestion of documents indexed with another embedding model (or --all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug); default: every tenant")
        parser.add_argument("--all", action="store_true", help="Re-ingest every ready/failed document")

    def handle(self, *args: Any, **opts: Any) -> None:
        tenants = Tenant.objects.all().order_by("pk")
        if opts.get("tenant"):
            tenants = tenants.filter(slug=opts["tenant"])
            if not tenants.exists():
                raise CommandError(f"no tenant with slug {opts['tenant']!r}")
        model_id = get_embedder().model_id
        actor = Actor.system(label="manage.py reindex_documents")
        total = 0
        for tenant in tenants:
            queued = documents_reindex(tenant=tenant, actor=actor, model_id=model_id, everything=opts["all"])
            total += len(queued)
            if queued:
                self.stdout.write(f"{tenant.slug}: queued {len(queued)} document(s)")
        self.stdout.write(self.style.SUCCESS(f"Queued {total} document(s) for re-indexing with {model_id}"))
