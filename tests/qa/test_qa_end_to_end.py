"""The real pipeline end to end: upload -> Celery task body (ingestion) -> ask -> delete mid-conversation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document
from documents.services import document_delete, document_upload
from documents.tasks import document_ingest_task
from qa.answering.types import NOT_FOUND_TEXT
from tenants.actors import Actor
from tests.qa.conftest import SHARED_DATA
from tests.qa.test_qa_api import assert_cited

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.django_db, pytest.mark.slow]


def ingest(tenant, membership, rel: str) -> Document:  # type: ignore[no-untyped-def]
    actor = Actor.for_user(membership.user, membership)
    path = SHARED_DATA / "docs" / rel
    doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(path.name, path.read_bytes()))
    document_ingest_task(tenant_id=tenant.pk, document_id=doc.pk)
    doc.refresh_from_db()
    assert doc.status == Document.Status.READY, doc.error
    return doc


def test_ingested_pdf_is_answered_with_the_right_page_then_deleted(api, make_token, tenant_a, editor_a):
    dmca = ingest(tenant_a, editor_a, "good/dmca.pdf")
    linn = ingest(tenant_a, editor_a, "good/linn.txt")
    client = api(make_token(editor_a, ["qa", "read", "write"]))
    first = client.post("/api/v1/qa/", {"question": "Into how many titles is the DMCA divided?"}, format="json")
    body = first.json()
    assert_cited(body, tenant_a)
    assert "five titles" in body["answer"].lower()
    assert any(c["document_id"] == dmca.pk and c["page"] == 1 for c in body["citations"])
    assert all(1 <= c["page"] <= dmca.pages_total for c in body["citations"] if c["document_id"] == dmca.pk)

    document_delete(tenant=tenant_a, actor=Actor.for_user(editor_a.user, editor_a), document=dmca)
    follow = client.post(
        "/api/v1/qa/",
        {"question": "And who signed it into law?", "conversation_id": body["conversation_id"]},
        format="json",
    ).json()
    assert all(c["document_id"] != dmca.pk for c in follow["citations"])
    assert "Clinton" not in follow["answer"]
    if not follow["found"]:
        assert follow["answer"] == NOT_FOUND_TEXT and follow["notice"]
    assert linn.pk
