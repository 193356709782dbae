"""Register the platform-shared built-in models (idempotent); optionally load them locally.

manage.py ensure_builtin_models                   # register minilm v1 and e5s v1, alias production
manage.py ensure_builtin_models --serve           # ... and load minilm on the local tritonserver now
manage.py ensure_builtin_models --serve e5s       # ... load the named ones instead
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from models_registry.backends import local_triton_config
from models_registry.builtin import ensure_all
from models_registry.services import serving_load, serving_request
from tenants.actors import Actor


class Command(BaseCommand):
    help = "Register built-in platform-shared models (all-MiniLM-L6-v2, multilingual-e5-small); idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--serve",
            nargs="*",
            metavar="NAME",
            help="also load these (default: minilm) on the local tritonserver (starting it if needed), in this process",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system(label="ensure_builtin_models")
        results = {r.model.name: r for r in ensure_all(actor=actor)}
        for result in results.values():
            verb = "registered" if result.created else "already registered"
            self.stdout.write(f"{result.model.name} v{result.version.version} {verb} (shared, alias production)")
        if options["serve"] is None:
            return
        names = options["serve"] or ["minilm"]
        unknown = sorted(set(names) - set(results))
        if unknown:
            raise CommandError(f"no built-in model {', '.join(unknown)}; known: {', '.join(sorted(results))}")
        for name in names:
            row = serving_request(tenant=None, actor=actor, version=results[name].version)
            row = serving_load(tenant=None, serving_id=row.pk, config=local_triton_config())
            self.stdout.write(f"local serving: {row.triton_name} {row.status} {row.error}".rstrip())
            if row.status != row.Status.READY:
                raise SystemExit(1)
