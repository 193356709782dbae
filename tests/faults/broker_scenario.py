"""Out-of-process helper for test_broker_down_during_upload.py (not a test module).

``python -m tests.faults.broker_scenario <file>`` migrates the database named by DATABASE_URL,
creates a tenant, an owner and an API token, then — with the broker in CELERY_BROKER_URL down —
uploads the file through the real HTTP API (POST /api/v1/documents/) and asks /readyz. Prints
one JSON line: the upload's status and body, /readyz's status and body, the tenant id.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from tenants.actors import Actor
    from tenants.models import Membership
    from tenants.services import tenant_create, token_create

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create(username="owner@broker.test", email="owner@broker.test")
    tenant = tenant_create(actor=Actor.system(), slug="broker", name="Broker fault", owner=owner)
    membership = Membership.objects.for_tenant(tenant).get(user=owner)
    token = token_create(
        tenant=tenant, actor=Actor.system(label="test"), membership=membership, name="t", scopes=["read", "write"]
    ).plaintext
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    upload = client.post(
        "/api/v1/documents/",
        {"files": SimpleUploadedFile(Path(path).name, Path(path).read_bytes())},
        format="multipart",
    )
    ready = client.get("/readyz")
    if upload["Content-Type"] != "application/json":
        sys.stderr.write(f"upload answered {upload.status_code}: {upload.content[:3000]!r}\n")
    print(
        json.dumps(
            {
                "tenant_id": tenant.pk,
                "upload_status": upload.status_code,
                "upload": upload.json(),
                "readyz_status": ready.status_code,
                "readyz": ready.json(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
