"""Console chat page /t/<slug>/qa/: server-side views and a real-Chromium run of ask -> stream ->
click a citation -> the cited page with the quote highlighted -> export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from playwright.sync_api import Browser, sync_playwright

from documents.models import Chunk
from qa.models import Conversation
from tests.qa.conftest import DMCA_PAGES
from tests.support.browser import launch_chromium

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.slow]


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
    """Chromium for this module only: Playwright's sync API keeps an asyncio loop in the test
    thread, so Django's async-safety guard is lifted exactly while the browser lives (the same
    pattern as tests/tenants/conftest.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            instance = launch_chromium(playwright.chromium)
            try:
                yield instance
            finally:
                instance.close()


def _client(membership) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.mark.django_db
def test_chat_page_and_nav(viewer_a, outsider):
    html = _client(viewer_a).get("/t/acme/qa/").content.decode()
    assert 'id="qa-app"' in html and 'href="/t/acme/qa/"' in html and ">Ask<" in html
    c = Client()
    c.force_login(outsider)
    assert c.get("/t/acme/qa/").status_code == 404


@pytest.mark.django_db
def test_source_view_is_tenant_scoped(viewer_a, index_document, tenant_a, tenant_b):
    doc = index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    other = index_document(tenant_b, "Secret", [(4, "Globex keeps its secret recipe in vault 9.")])
    chunk = Chunk.objects.for_tenant(tenant_a).filter(document=doc, page=7).get()
    data = _client(viewer_a).get(f"/t/acme/qa/sources/{chunk.pk}/").json()
    assert data["page"] == 7 and data["document_title"] == "DMCA summary"
    assert [c["id"] for c in data["chunks"]] == [chunk.pk] and "$500,000" in data["chunks"][0]["text"]
    foreign = Chunk.objects.for_tenant(tenant_b).get(document=other)
    resp = _client(viewer_a).get(f"/t/acme/qa/sources/{foreign.pk}/")
    assert resp.status_code == 404 and b"vault 9" not in resp.content


@pytest.mark.django_db
def test_console_export_follows_visibility(viewer_a, owner_a, tenant_a, tenant_b, owner_b):
    mine = Conversation.objects.create(tenant=tenant_a, title="mine", created_by=viewer_a.user)
    private = Conversation.objects.create(tenant=tenant_a, title="owner's", created_by=owner_a.user)
    foreign = Conversation.objects.create(tenant=tenant_b, title="b", created_by=owner_b.user)
    c = _client(viewer_a)
    assert c.get(f"/t/acme/qa/conversations/{mine.pk}/export.md").status_code == 200
    assert c.get(f"/t/acme/qa/conversations/{private.pk}/export.json").status_code == 404
    assert c.get(f"/t/acme/qa/conversations/{foreign.pk}/export.json").status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_ask_stream_cite_export(live_server, page, index_document, viewer_a, tenant_a):
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    client = _client(viewer_a)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/t/acme/qa/")
    page.fill("#qa-question", "What is the maximum penalty for a first offense?")
    page.click("#qa-ask")
    meta = page.locator(".qa-turn .qa-meta")
    meta.filter(has_text="extractive").wait_for(timeout=30_000)
    answer = page.inner_text(".qa-turn .qa-a")
    assert "$500,000" in answer and "[1]" in answer
    page.click(".qa-turn .qa-a .qa-cite >> nth=0")
    page.wait_for_selector("#qa-source:not([hidden]) mark")
    assert "page 7" in page.inner_text("#qa-source-title")
    assert "$500,000" in page.inner_text("#qa-source mark")
    conv = Conversation.objects.for_tenant(tenant_a).get()
    assert page.locator(f'.qa-conv[data-conv="{conv.pk}"]').count() == 1
    href = page.get_attribute("#qa-export-md", "href")
    assert href == f"/t/acme/qa/conversations/{conv.pk}/export.md"
    md = page.request.get(live_server.url + href)
    assert md.status == 200 and "## Turn 1" in md.text() and "$500,000" in md.text()
    # A follow-up in the same conversation is streamed too.
    page.fill("#qa-question", "Into how many titles is it divided?")
    page.click("#qa-ask")
    page.locator(".qa-turn >> nth=1").locator(".qa-meta").filter(has_text="ms").wait_for(timeout=30_000)
    assert conv.turns.count() == 2
