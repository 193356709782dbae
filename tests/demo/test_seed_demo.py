"""`manage.py seed_demo`: what the demo tenant contains, idempotency, and independent steps.

Enqueued work goes to the test settings' in-memory broker (no worker runs), so nothing heavy
happens here; the messages themselves are read back to prove each upload and the training run
was really enqueued on commit, exactly once.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from demo.data import demo_catalog_rows, demo_event_rows
from demo.management.commands.seed_demo import DEMO_DOCUMENTS, PLAN_NAME
from deploy.models import CapacityPlan
from documents.models import Document
from portal.celery import app
from recommendations.models import CatalogItem, Event, TrainingRun
from recommendations.validation import validate_catalog_rows, validate_event_rows
from tenants.models import ApiToken, AuditEvent, Membership, Tenant
from tenants.services.tokens import token_digest


def _drain(queue: str) -> list[tuple[str, dict[str, Any]]]:
    """(task name, kwargs) of every message waiting in ``queue`` of the memory broker; removes them."""
    out = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            _args, kwargs, _embed = message.decode()
            out.append((message.headers["task"], kwargs))
    return out


def _seed(django_capture_on_commit_callbacks) -> str:
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "tenants": Tenant.objects.count(),
        "memberships": Membership.objects.all_tenants().count(),
        "tokens": ApiToken.objects.all_tenants().count(),
        "documents": Document.objects.all_tenants().count(),
        "items": CatalogItem.objects.all_tenants().count(),
        "events": Event.objects.all_tenants().count(),
        "runs": TrainingRun.objects.all_tenants().count(),
        "plans": CapacityPlan.objects.all_tenants().count(),
        "audit": AuditEvent.objects.all_tenants().count(),
    }


@pytest.fixture
def demo_settings(settings, tmp_path: Path):
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    # Works on any broker the suite runs with (memory locally, Redis in CI): queues are drained first.
    for queue in ("default", "ingestion", "deploy"):
        _drain(queue)
    return settings


@pytest.mark.django_db
def test_seed_demo_creates_a_usable_tenant_once(demo_settings, django_capture_on_commit_callbacks):
    first = _seed(django_capture_on_commit_callbacks)

    tenant = Tenant.objects.get(slug="demo")
    roles = dict(Membership.objects.for_tenant(tenant).values_list("user__email", "role"))
    assert roles == {
        "demo@example.com": "owner",
        "demo-editor@example.com": "editor",
        "demo-viewer@example.com": "viewer",
    }
    password = (demo_settings.VAR_DIR / "demo-credentials.txt").read_text().strip()
    for m in Membership.objects.for_tenant(tenant).select_related("user"):
        assert m.user.check_password(password), m.user.email
        assert f"{m.user.email} / {password}" in first

    # The token is printed once, works as a real token and holds exactly the demo scopes.
    token = ApiToken.objects.for_tenant(tenant).get()
    assert token.membership.user.email == "demo@example.com"
    assert sorted(token.scopes) == ["qa", "read", "recommend", "write"]
    printed = next(line.strip() for line in first.splitlines() if line.strip().startswith(f"{token.prefix}."))
    assert token_digest(printed.split(".", 1)[1]) == token.digest

    docs = Document.objects.for_tenant(tenant)
    assert sorted(docs.values_list("filename", flat=True)) == sorted(Path(p).name for p, _ in DEMO_DOCUMENTS)
    assert set(docs.values_list("status", flat=True)) == {Document.Status.QUEUED}
    assert all(d.file and Path(d.file.path).read_bytes() for d in docs)

    rows = demo_catalog_rows()
    assert CatalogItem.objects.for_tenant(tenant).count() == len(rows) == 200
    assert Event.objects.for_tenant(tenant).count() == len(demo_event_rows(anchor=tenant.created_at))
    assert Event.objects.for_tenant(tenant).count() > 15_000
    assert set(Event.objects.for_tenant(tenant).values_list("type", flat=True)) == {
        "view",
        "click",
        "add_to_cart",
        "purchase",
    }

    run = TrainingRun.objects.for_tenant(tenant).get()
    assert (run.version, run.status) == (1, TrainingRun.Status.QUEUED)
    plan = CapacityPlan.objects.for_tenant(tenant).get()
    assert (plan.name, plan.inputs["use_case"], plan.inputs["concurrent_users"]) == (PLAN_NAME, "rag_qa", 50)

    # Each upload and the training run reached the broker on commit, once.
    ingest = _drain("ingestion")
    assert sorted(kw["document_id"] for _, kw in ingest) == sorted(docs.values_list("pk", flat=True))
    assert {name for name, _ in ingest} == {"documents.ingest"}
    assert _drain("default") == [("recommendations.train", {"tenant_id": tenant.pk, "run_id": run.pk})]
    assert "4 queued or ingesting" in first and "v1 queued" in first

    before = _counts()
    second = _seed(django_capture_on_commit_callbacks)

    assert _counts() == before  # nothing duplicated, not even an audit event
    assert _drain("ingestion") == [] and _drain("default") == []
    assert printed not in second
    assert f"{token.prefix}…) was issued on a previous run" in second
    assert f"demo@example.com / {password}" in second


@pytest.mark.django_db
def test_seed_demo_steps_fail_independently(demo_settings, django_capture_on_commit_callbacks):
    """Without the doc files (say, an installed package) the rest of the demo is still created."""
    demo_settings.BASE_DIR = demo_settings.VAR_DIR / "no-checkout"

    out = _seed(django_capture_on_commit_callbacks)

    tenant = Tenant.objects.get(slug="demo")
    assert Document.objects.for_tenant(tenant).count() == 0
    assert "README.md is not in this checkout" in out
    assert CatalogItem.objects.for_tenant(tenant).count() == 200
    assert TrainingRun.objects.for_tenant(tenant).count() == 1
    assert CapacityPlan.objects.for_tenant(tenant).count() == 1


def test_demo_data_is_deterministic_valid_and_in_the_past():
    anchor = dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    rows = demo_event_rows(anchor=anchor)
    assert rows == demo_event_rows(anchor=anchor)
    catalog = demo_catalog_rows()
    checked_items = validate_catalog_rows(catalog)
    assert checked_items.errors == [] and len(checked_items.rows) == 200
    checked = validate_event_rows(rows, now=anchor)
    assert checked.errors == []
    assert {r["item_id"] for r in rows} <= {r["external_id"] for r in catalog}
    stamps = [r["timestamp"] for _, r in checked.rows]
    assert max(stamps) <= anchor and min(stamps) >= anchor - dt.timedelta(days=61)
    keys = {(r["user_id"], r["item_id"], r["type"], r["timestamp"]) for r in rows}
    assert len(keys) == len(rows)  # no row would be refused as a duplicate of another
