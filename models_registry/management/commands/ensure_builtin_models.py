"""Register the platform-shared built-in models (idempotent); optionally load them locally.

manage.py ensure_builtin_models            # register minilm v1 + alias production
manage.py ensure_builtin_models --serve    # ... and load it on the local tritonserver now
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from models_registry.backends import local_triton_config
from models_registry.builtin import ensure_minilm
from models_registry.services import serving_load, serving_request
from tenants.actors import Actor


class Command(BaseCommand):
    help = "Register built-in platform-shared models (all-MiniLM-L6-v2) in the registry; idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--serve",
            action="store_true",
            help="also load it on the local tritonserver (starting it if needed), in this process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system(label="ensure_builtin_models")
        result = ensure_minilm(actor=actor)
        verb = "registered" if result.created else "already registered"
        self.stdout.write(f"{result.model.name} v{result.version.version} {verb} (shared, alias production)")
        if options["serve"]:
            row = serving_request(tenant=None, actor=actor, version=result.version)
            row = serving_load(tenant=None, serving_id=row.pk, config=local_triton_config())
            self.stdout.write(f"local serving: {row.triton_name} {row.status} {row.error}".rstrip())
            if row.status != row.Status.READY:
                raise SystemExit(1)
