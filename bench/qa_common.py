"""Shared set-up for the Q&A benches: a throw-away Django database, a real Milvus Lite server,
a bench tenant with an owner. Nothing here is product code."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")


def setup_django(tmp: Path, **env: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "PORTAL_VAR_DIR": str(tmp / "var"),
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "CELERY_BROKER_URL": "memory://",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "INFERENCE_TORCH_THREADS": "1",
            "TRITON_URL": "",
            "TRITON_LLM_MODEL": "",
            **env,
        }
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_milvus(stack: contextlib.ExitStack, tmp: Path) -> Any:
    from django.conf import settings

    from inference.milvus_lite import LiteServer
    from tests.support.milvus import free_port

    milvus = LiteServer(tmp / "milvus.db", port=free_port(), log_file=tmp / "milvus.log")
    milvus.start()
    stack.callback(milvus.stop)
    milvus.wait_ready(60)
    settings.MILVUS_URI = milvus.uri
    settings.MILVUS_COLLECTION = "bench_qa"
    settings.MILVUS_TIMEOUT_S = 30.0
    settings.MEDIA_ROOT = str(tmp / "media")
    return milvus


def bench_tenant(slug: str = "bench") -> tuple[Any, Any, Any]:
    """(tenant, owner membership, owner actor)."""
    from django.contrib.auth import get_user_model

    from tenants.actors import Actor
    from tenants.models import Membership
    from tenants.services import tenant_create

    owner = get_user_model().objects.create(username=f"{slug}@example.test", email=f"{slug}@example.test")
    tenant = tenant_create(actor=Actor.system(label="bench"), slug=slug, name=slug.title(), owner=owner)
    membership = Membership.objects.for_tenant(tenant).get(user=owner)
    return tenant, membership, Actor.for_user(owner, membership)
