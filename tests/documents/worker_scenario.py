"""Out-of-process helper for test_ingestion_worker.py (not a test module).

``python -m tests.documents.worker_scenario <file> <upload name>`` migrates the database named by
DATABASE_URL, creates a tenant, uploads the file through ``document_upload`` (which enqueues
``documents.ingest`` on commit, to the broker in CELERY_BROKER_URL) and prints
``{"tenant_id": ..., "document_id": ...}``. It runs in its own process because the Celery worker
under test must share the database, and the pytest database is in memory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(path: str, name: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from documents.services import document_upload
    from tenants.actors import Actor
    from tenants.services import tenant_create

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create(username="owner@kill.test", email="owner@kill.test")
    tenant = tenant_create(actor=Actor.system(), slug="kill", name="Kill test", owner=owner)
    doc = document_upload(
        tenant=tenant, actor=Actor.system(label="test"), file=SimpleUploadedFile(name, Path(path).read_bytes())
    )
    print(json.dumps({"tenant_id": tenant.pk, "document_id": doc.pk}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
