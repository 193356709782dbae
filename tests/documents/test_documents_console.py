"""Console pages for documents: the list with live status, the uploader endpoint, the detail page
with chunks, delete/re-ingest buttons, the nav entry and the dashboard card; plus one Playwright
run that uploads a file through the page and watches it reach ``ready``."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from documents.models import Chunk, Document
from tests.factories.documents import document
from tests.support.browser import browser, browser_context, page, pytest_runtest_makereport  # noqa: F401

# Playwright's sync API keeps an asyncio loop in the main thread, which trips Django's async-safety
# check on every ORM call (Django's docs suggest this flag for Playwright tests).

TEXT = b"The lighthouse keeper logs the tide at six every morning.\n\nThen the gulls arrive.\n"


def _client(membership) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(membership.user)
    return client


def _doc(tenant, *, status: str = "ready", title: str = "Doc") -> Document:  # type: ignore[no-untyped-def]
    return document(tenant, title=title, status=status, chunks_total=2)


@pytest.mark.django_db
def test_list_page_for_editor_has_the_uploader_and_nav(editor_a):
    resp = _client(editor_a).get("/t/acme/documents/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="dropzone"' in html and 'type="file" multiple' in html and "documents/uploader.js" in html
    assert 'href="/t/acme/documents/"' in html  # the sidebar entry
    assert "No documents yet." in html


@pytest.mark.django_db
def test_viewer_sees_the_table_but_no_uploader_or_buttons(viewer_a, tenant_a):
    _doc(tenant_a)
    html = _client(viewer_a).get("/t/acme/documents/").content.decode()
    assert 'id="dropzone"' not in html and "Re-ingest" not in html and ">Delete<" not in html
    assert "Doc" in html


@pytest.mark.django_db
def test_rows_poll_while_any_document_is_not_terminal_and_show_errors(editor_a, tenant_a):
    busy = _doc(tenant_a, status="embedding", title="Busy")
    failed = _doc(tenant_a, status="failed", title="Broken")
    Document.objects.for_tenant(tenant_a).filter(pk=failed.pk).update(
        error="scanned PDF: no extractable text; OCR is not enabled"
    )
    html = _client(editor_a).get("/t/acme/documents/rows/").content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Scanned PDF: no extractable text; OCR is not enabled" in html
    assert "1/2 chunks" in html
    Document.objects.for_tenant(tenant_a).filter(pk=busy.pk).update(status="ready")
    html = _client(editor_a).get("/t/acme/documents/rows/").content.decode()
    assert "hx-trigger" not in html


@pytest.mark.django_db
def test_upload_endpoint_answers_json(editor_a, viewer_a, tenant_a):
    client = _client(editor_a)
    resp = client.post("/t/acme/documents/upload/", {"file": SimpleUploadedFile("a.txt", TEXT)})
    assert resp.status_code == 202 and resp.json()["status"] == "queued"
    dup = client.post("/t/acme/documents/upload/", {"file": SimpleUploadedFile("b.txt", TEXT)})
    assert dup.status_code == 409 and "already uploaded" in dup.json()["detail"]
    forced = client.post("/t/acme/documents/upload/", {"file": SimpleUploadedFile("b.txt", TEXT), "force": "true"})
    assert forced.status_code == 202
    empty = client.post("/t/acme/documents/upload/", {"file": SimpleUploadedFile("e.txt", b"")})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    assert (
        _client(viewer_a).post("/t/acme/documents/upload/", {"file": SimpleUploadedFile("v.txt", b"x")}).status_code
        == 403
    )
    assert Document.objects.for_tenant(tenant_a).count() == 2


@pytest.mark.django_db
def test_detail_lists_chunks_with_pages_and_other_tenant_is_404(editor_a, tenant_a, tenant_b, owner_b):
    doc = _doc(tenant_a)
    Chunk.objects.create(
        tenant=tenant_a, document=doc, generation=1, ordinal=0, text="first chunk", page=3, heading_path=["Intro"]
    )
    html = _client(editor_a).get(f"/t/acme/documents/{doc.pk}/").content.decode()
    assert "first chunk" in html and "<td>3</td>" in html and "Intro" in html
    other = _doc(tenant_b, title="Secret")
    assert _client(editor_a).get(f"/t/acme/documents/{other.pk}/").status_code == 404
    assert _client(owner_b).get(f"/t/acme/documents/{doc.pk}/").status_code == 404  # not a member of acme


@pytest.mark.django_db
def test_console_delete_and_reingest(editor_a, viewer_a, tenant_a, django_capture_on_commit_callbacks):
    doc = _doc(tenant_a)
    client = _client(editor_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = client.post(f"/t/acme/documents/{doc.pk}/reingest/")
    assert resp.status_code == 302 and len(callbacks) == 1
    assert Document.objects.for_tenant(tenant_a).get(pk=doc.pk).status == "queued"
    resp = _client(viewer_a).post(f"/t/acme/documents/{doc.pk}/delete/", follow=True)
    assert "does not allow" in resp.content.decode()
    assert Document.objects.for_tenant(tenant_a).filter(pk=doc.pk).exists()
    client.post(f"/t/acme/documents/{doc.pk}/delete/")
    assert not Document.objects.for_tenant(tenant_a).filter(pk=doc.pk).exists()
    assert client.post(f"/t/acme/documents/{doc.pk}/explode/").status_code == 404


@pytest.mark.django_db
def test_dashboard_card(editor_a, tenant_a):
    _doc(tenant_a)
    _doc(tenant_a, status="extracting", title="Busy")
    html = _client(editor_a).get("/t/acme/").content.decode()
    assert "Documents (1 ingesting)" in html and 'href="/t/acme/documents/"' in html


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_upload_reaches_ready(live_server, page, ingest_env, editor_a, tenant_a, tmp_path):  # noqa: F811
    from portal.celery import app

    client = Client()
    client.force_login(editor_a.user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    sample = tmp_path / "tide-notes.txt"
    sample.write_bytes(TEXT)
    # No worker in this test: the task runs in the server thread right after the upload commits
    # (the real-worker path is test_ingestion_worker.py).
    app.conf.task_always_eager = True
    try:
        page.goto(f"{live_server.url}/t/acme/documents/")
        page.set_input_files("#file-input", str(sample))
        page.wait_for_selector("#upload-list li.ok", timeout=60_000)
        assert "queued" in page.inner_text("#upload-list")
        row = page.locator("#document-rows tr[data-status='ready']")
        row.wait_for(timeout=60_000)
        assert "tide-notes" in row.inner_text()
    finally:
        app.conf.task_always_eager = False
    doc = Document.objects.for_tenant(tenant_a).get()
    assert doc.status == "ready" and doc.chunks_total >= 1
    page.click(f"#document-{doc.pk} a")
    page.wait_for_selector("#chunks")
    assert "The lighthouse keeper logs the tide" in page.inner_text("#chunks")
