"""Documents API: upload (202/400/409/413), list/get, chunks, re-ingest, delete, audit, and the
cross-tenant contract for every route and for the Document and Chunk models."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from documents.models import Chunk, Document
from documents.tasks import document_ingest_task, document_purge_task
from tenants.models import AuditEvent
from tests.documents.conftest import read_doc
from tests.factories.documents import document
from tests.support.api_mixins import CrossTenantAPITests

LIST = "/api/v1/documents/"
TEXT = b"The heron counts seventeen lanterns on the quay every evening.\n\nA second paragraph follows.\n"


def _file(name: str, data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture
def writer(editor_a, make_token, api):  # type: ignore[no-untyped-def]
    return api(make_token(editor_a, ["write"]))


def _make_document(tenant, *, title: str = "doc", with_chunk: bool = True) -> Document:  # type: ignore[no-untyped-def]
    return document(tenant, title=title, with_chunk=with_chunk)


# ------------------------------------------------------------------------------------------------
# Cross-tenant contract
# ------------------------------------------------------------------------------------------------
class TestDocumentsAPICrossTenant(CrossTenantAPITests):
    list_url = "api:document-list"
    detail_url = "api:document-detail"
    covers_routes = ["api:document-list", "api:document-detail", "api:document-reingest"]
    model = Document
    write = ("post", "api:document-reingest", lambda ctx: {"pk": ctx["obj_a"].pk}, {})
    write_role_too_low = "viewer"

    def make_object(self, tenant, membership):  # type: ignore[no-untyped-def]
        return _make_document(tenant, title=f"doc-{tenant.slug}")

    def test_delete_and_reingest_of_other_tenant_are_404(self, two_tenants, api):  # type: ignore[no-untyped-def]
        client = api(two_tenants["token_a"])
        obj_b = two_tenants["obj_b"]
        assert client.delete(reverse("api:document-detail", kwargs={"pk": obj_b.pk})).status_code == 404
        assert client.post(reverse("api:document-reingest", kwargs={"pk": obj_b.pk})).status_code == 404
        assert Document.objects.for_tenant(two_tenants["tb"]).filter(pk=obj_b.pk, status="ready").exists()


class TestChunksAPICrossTenant(CrossTenantAPITests):
    """The chunk route is nested under a document; `make_object` returns that document."""

    detail_url = "api:document-chunks"
    covers_routes = ["api:document-chunks"]
    model = Chunk

    def make_object(self, tenant, membership):  # type: ignore[no-untyped-def]
        return _make_document(tenant, title=f"chunks-{tenant.slug}")

    def test_chunk_text_of_other_tenant_never_returned(self, two_tenants, api):  # type: ignore[no-untyped-def]
        resp = api(two_tenants["token_a"]).get(reverse("api:document-chunks", kwargs={"pk": two_tenants["obj_a"].pk}))
        assert resp.status_code == 200
        texts = [c["text"] for c in resp.json()["results"]]
        assert texts == ["text of xt-a"]


# ------------------------------------------------------------------------------------------------
# Upload
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_upload_one_file_is_202_queued_and_enqueued_on_commit(writer, tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = writer.post(LIST, {"files": [_file("notes.txt", TEXT)]}, format="multipart")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert [d["status"] for d in body["documents"]] == ["queued"]
    assert body["rejected"] == []
    assert len(callbacks) == 1  # the Celery task is sent only once the upload is committed
    doc = Document.objects.for_tenant(tenant_a).get(pk=body["documents"][0]["id"])
    assert doc.kind == "txt" and doc.filename == "notes.txt" and doc.title == "notes"
    assert doc.file.name.startswith(f"documents/{tenant_a.pk}/") and "notes" not in doc.file.name
    assert default_storage.open(doc.file.name).read() == TEXT
    event = AuditEvent.objects.for_tenant(tenant_a).get(action="documents.document.created")
    assert event.target_id == str(doc.pk) and event.changes["filename"] == [None, "notes.txt"]


@pytest.mark.django_db
def test_upload_many_files_and_the_single_file_field(writer, tenant_a):
    resp = writer.post(
        LIST, {"files": [_file("a.txt", b"alpha text"), _file("b.md", b"# Title\n\nbeta text")]}, format="multipart"
    )
    assert resp.status_code == 202, resp.content
    assert sorted(d["kind"] for d in resp.json()["documents"]) == ["md", "txt"]
    resp = writer.post(LIST, {"file": _file("c.txt", b"gamma text")}, format="multipart")
    assert resp.status_code == 202
    assert Document.objects.for_tenant(tenant_a).count() == 3


@pytest.mark.django_db
def test_upload_without_files_is_400(writer):
    resp = writer.post(LIST, {}, format="multipart")
    assert resp.status_code == 400
    assert "files" in resp.json()["detail"]


@pytest.mark.django_db
def test_same_file_twice_is_409_naming_the_existing_document_then_force(writer, tenant_a):
    first = writer.post(LIST, {"files": [_file("a.txt", TEXT)]}, format="multipart").json()["documents"][0]
    resp = writer.post(LIST, {"files": [_file("copy.txt", TEXT)]}, format="multipart")
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "duplicate"
    assert body["existing_document"]["id"] == first["id"]
    assert f"document {first['id']}" in body["detail"]
    resp = writer.post(f"{LIST}?force=true", {"files": [_file("copy.txt", TEXT)]}, format="multipart")
    assert resp.status_code == 202
    assert Document.objects.for_tenant(tenant_a).filter(sha256=first["sha256"]).count() == 2


@pytest.mark.django_db
def test_same_file_in_another_tenant_is_not_a_duplicate(writer, owner_b, make_token, api):
    assert writer.post(LIST, {"files": [_file("a.txt", TEXT)]}, format="multipart").status_code == 202
    other = api(make_token(owner_b, ["write"]))
    assert other.post(LIST, {"files": [_file("a.txt", TEXT)]}, format="multipart").status_code == 202


@pytest.mark.django_db
def test_over_the_tenant_limit_is_413(writer, tenant_a, settings):
    tenant_a.settings = {"max_upload_bytes": 1000}
    tenant_a.save()
    resp = writer.post(LIST, {"files": [_file("big.txt", b"x " * 1000)]}, format="multipart")
    assert resp.status_code == 413
    assert "too large" in resp.json()["detail"] and "1000 bytes" in resp.json()["detail"]
    settings.DOCUMENT_MAX_UPLOAD_BYTES = 10
    tenant_a.settings = {}
    tenant_a.save()
    assert writer.post(LIST, {"files": [_file("b.txt", b"eleven bytes")]}, format="multipart").status_code == 413
    assert not Document.objects.for_tenant(tenant_a).exists()


@pytest.mark.parametrize(
    ("specimen", "upload_name", "code", "phrase"),
    [
        ("bad/empty.pdf", "empty.pdf", "empty_file", "empty"),
        ("bad/random-binary.txt", "notes.txt", "unsupported_type", "binary data"),
        ("bad/html-disguised-as.pdf", "quarterly-report.pdf", "unsupported_type", "HTML"),
        ("encrypted/bug53475-password-is-pass.docx", "secret.docx", "encrypted", "password-protected"),
    ],
)
@pytest.mark.django_db
def test_cheaply_detectable_bad_files_are_400_with_a_reason(writer, tenant_a, specimen, upload_name, code, phrase):
    resp = writer.post(LIST, {"files": [_file(upload_name, read_doc(specimen))]}, format="multipart")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == code
    assert phrase in body["detail"] and upload_name in body["detail"]
    assert not Document.objects.for_tenant(tenant_a).exists()


@pytest.mark.django_db
def test_mixed_batch_accepts_good_and_lists_rejected(writer):
    resp = writer.post(
        LIST,
        {
            "files": [
                _file("ok.txt", TEXT),
                _file("empty.pdf", b""),
                _file("bin.txt", read_doc("bad/random-binary.txt")),
            ]
        },
        format="multipart",
    )
    assert resp.status_code == 202
    body = resp.json()
    assert len(body["documents"]) == 1
    assert [(r["filename"], r["status"]) for r in body["rejected"]] == [("empty.pdf", 400), ("bin.txt", 400)]


@pytest.mark.django_db
def test_all_rejected_batch_answers_with_the_first_status(writer):
    resp = writer.post(LIST, {"files": [_file("e1.txt", b""), _file("e2.txt", b"")]}, format="multipart")
    assert resp.status_code == 400
    assert len(resp.json()["rejected"]) == 2


@pytest.mark.parametrize(
    "name",
    [
        "..%2f..%2fetc%2fpasswd.pdf",
        "../../etc/passwd.pdf",
        "..\\..\\windows\\win.ini.pdf",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd.pdf",
        "/etc/passwd.pdf",
    ],
)
@pytest.mark.django_db
def test_hostile_filenames_are_display_only(writer, tenant_a, settings, name):
    resp = writer.post(LIST, {"files": [_file(name, read_doc("bad/path-traversal.pdf"))]}, format="multipart")
    assert resp.status_code == 202, resp.content
    doc = Document.objects.for_tenant(tenant_a).get()
    assert doc.filename in ("passwd.pdf", "win.ini.pdf")
    assert ".." not in doc.file.name and "passwd" not in doc.file.name
    stored = Path(default_storage.path(doc.file.name)).resolve()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve())


@pytest.mark.django_db
def test_unicode_filename_is_kept(writer, tenant_a):
    resp = writer.post(LIST, {"files": [_file("Größe - 報告 ☃.md", "# Zürich\n\nText".encode())]}, format="multipart")
    assert resp.status_code == 202
    doc = Document.objects.for_tenant(tenant_a).get()
    assert doc.filename == "Größe - 報告 ☃.md" and doc.kind == "md"


@pytest.mark.django_db
def test_viewer_cannot_upload_and_it_is_audited(viewer_a, api, tenant_a):
    resp = api(user=viewer_a.user, tenant="acme").post(LIST, {"files": [_file("a.txt", TEXT)]}, format="multipart")
    assert resp.status_code == 403
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="tenants.permission.denied").exists()
    assert not Document.objects.for_tenant(tenant_a).exists()


# ------------------------------------------------------------------------------------------------
# Read, re-ingest, delete
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_list_get_and_progress_fields(writer, tenant_a):
    doc = _make_document(tenant_a, title="report")
    body = writer.get(LIST).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["status"] == "ready" and row["progress"]["percent"] == 100 and row["progress"]["chunks_total"] == 1
    detail = writer.get(f"{LIST}{doc.pk}/").json()
    assert detail["title"] == "report" and detail["is_terminal"] is True
    assert writer.get(f"{LIST}?status=failed").json()["count"] == 0


@pytest.mark.django_db
def test_chunks_are_paginated_in_order(writer, tenant_a):
    doc = _make_document(tenant_a, with_chunk=False)
    Chunk.objects.bulk_create(
        [Chunk(tenant=tenant_a, document=doc, generation=1, ordinal=i, text=f"c{i}", page=i + 1) for i in range(5)]
        + [Chunk(tenant=tenant_a, document=doc, generation=0, ordinal=0, text="old generation")]
    )
    page = writer.get(f"{LIST}{doc.pk}/chunks/?limit=2&offset=2").json()
    assert page["count"] == 5
    assert [(c["ordinal"], c["page"]) for c in page["results"]] == [(2, 3), (3, 4)]


@pytest.mark.django_db
def test_reingest_queues_and_audits_and_refuses_while_busy(writer, tenant_a, django_capture_on_commit_callbacks):
    doc = _make_document(tenant_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = writer.post(f"{LIST}{doc.pk}/reingest/")
    assert resp.status_code == 202 and resp.json()["status"] == "queued"
    assert len(callbacks) == 1
    assert resp.json()["generation"] == 1  # still the searchable one
    assert writer.post(f"{LIST}{doc.pk}/reingest/").status_code == 409
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="documents.document.reingested").count() == 1


@pytest.mark.django_db
def test_delete_removes_row_chunks_and_file_via_purge(writer, tenant_a, ingest_env, django_capture_on_commit_callbacks):
    resp = writer.post(LIST, {"files": [_file("a.txt", TEXT)]}, format="multipart")
    doc_id = resp.json()["documents"][0]["id"]
    document_ingest_task(tenant_id=tenant_a.pk, document_id=doc_id)
    doc = Document.objects.for_tenant(tenant_a).get(pk=doc_id)
    assert doc.status == "ready"
    assert ingest_env.count(tenant=str(tenant_a.pk), document_id=doc_id) == doc.chunks_total > 0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert writer.delete(f"{LIST}{doc_id}/").status_code == 204
    assert len(callbacks) == 1
    assert not Document.objects.for_tenant(tenant_a).filter(pk=doc_id).exists()
    assert not Chunk.objects.for_tenant(tenant_a).filter(document_id=doc_id).exists()
    # The purge task (what the on-commit callback sends) removes vectors and file; twice is fine.
    for _ in range(2):
        document_purge_task(tenant_id=tenant_a.pk, document_id=doc_id, file_name=doc.file.name)
    assert ingest_env.count(tenant=str(tenant_a.pk), document_id=doc_id) == 0
    assert not default_storage.exists(doc.file.name)
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="documents.document.deleted").count() == 1


@pytest.mark.django_db
def test_viewer_cannot_delete(viewer_a, api, tenant_a):
    doc = _make_document(tenant_a)
    resp = api(user=viewer_a.user, tenant="acme").delete(f"{LIST}{doc.pk}/")
    assert resp.status_code == 403
    assert Document.objects.for_tenant(tenant_a).filter(pk=doc.pk).exists()


@pytest.mark.django_db
def test_openapi_schema_has_the_document_routes(client):
    resp = client.get("/api/schema/?format=json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    assert {
        "/api/v1/documents/",
        "/api/v1/documents/{id}/",
        "/api/v1/documents/{id}/reingest/",
        "/api/v1/documents/{id}/chunks/",
    } <= set(paths)
    assert "multipart/form-data" in paths["/api/v1/documents/"]["post"]["requestBody"]["content"]


@pytest.mark.django_db
def test_upload_beyond_the_ingestion_backlog_is_503_with_retry_after_and_stores_nothing(
    writer, tenant_a, tenant_b, settings, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """Documents waiting to be indexed are bounded per tenant and platform-wide: beyond the bound
    an upload is refused with 503 + Retry-After (the client tries again later), nothing stored."""
    settings.DOCUMENT_MAX_PENDING_PER_TENANT = 2
    settings.DOCUMENT_MAX_PENDING = 0
    settings.DOCUMENT_BUSY_RETRY_AFTER_S = 30
    with django_capture_on_commit_callbacks(execute=False):  # no worker: they stay queued
        for i in range(2):
            assert (
                writer.post(
                    LIST, {"files": [_file(f"n{i}.txt", TEXT + bytes([65 + i]))]}, format="multipart"
                ).status_code
                == 202
            )
        files_before = Document.objects.for_tenant(tenant_a).count()
        resp = writer.post(LIST, {"files": [_file("n9.txt", TEXT + b"Z")]}, format="multipart")
        assert resp.status_code == 503 and resp["Retry-After"] == "30"
        assert resp.json()["code"] == "ingestion_busy" and "retry in 30 seconds" in resp.json()["detail"]
        # several files at once: each is refused, the response still says when to come back
        resp = writer.post(
            LIST, {"files": [_file("a.txt", TEXT + b"a"), _file("b.txt", TEXT + b"b")]}, format="multipart"
        )
        assert resp.status_code == 503 and resp["Retry-After"] == "30"
        assert {r["code"] for r in resp.json()["rejected"]} == {"ingestion_busy"}
        assert Document.objects.for_tenant(tenant_a).count() == files_before
        # once one is indexed (terminal), there is room again
        Document.objects.for_tenant(tenant_a).filter(filename="n0.txt").update(status=Document.Status.READY)
        assert writer.post(LIST, {"files": [_file("n9.txt", TEXT + b"Z")]}, format="multipart").status_code == 202
        # the platform-wide bound counts every tenant's waiting documents
        settings.DOCUMENT_MAX_PENDING_PER_TENANT = 0
        settings.DOCUMENT_MAX_PENDING = Document.objects.all_tenants().exclude(status__in=Document.TERMINAL).count()
        resp = writer.post(LIST, {"files": [_file("n10.txt", TEXT + b"Y")]}, format="multipart")
        assert resp.status_code == 503 and resp.json()["code"] == "ingestion_busy"
