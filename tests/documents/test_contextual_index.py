"""Contextual chunks end to end: what is embedded and BM25-indexed (``index_text``: title,
heading path, table context, then the text) versus what is quoted (``text``, verbatim).

Real Milvus Lite, the real in-process embedder, the real shared documents.
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.chunking import chunk_document
from documents.extraction import extract
from documents.models import Chunk, Document
from documents.retrieval import RetrievalConfig, chunks_retrieve
from documents.services import document_upload, documents_reindex
from documents.tasks import document_ingest_task
from models_registry.backends import get_embedder
from tenants.actors import Actor
from tests.documents.conftest import read_doc


def _ingest(tenant, membership, name: str, data: bytes, title: str | None = None) -> Document:  # type: ignore[no-untyped-def]
    actor = Actor.for_user(membership.user, membership)
    kw = {"title": title} if title else {}
    doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(name, data), **kw)
    document_ingest_task(tenant_id=tenant.pk, document_id=doc.pk)
    doc = Document.objects.for_tenant(tenant).get(pk=doc.pk)
    assert doc.status == Document.Status.READY, doc.error
    return doc


def _norm(text: str) -> str:
    return " ".join(text.split())


def test_table_row_is_found_by_its_row_label_and_column_header(ingest_env, tenant_a, editor_a):
    doc = _ingest(tenant_a, editor_a, "nics.pdf", read_doc("good/nics-background-checks-2015-11.pdf"))
    rows = Chunk.objects.for_tenant(tenant_a).filter(document=doc, kind="table")
    assert rows.count() >= 50  # one chunk per state row (the table is 55 rows)
    res = chunks_retrieve(
        tenant=tenant_a,
        query="How many handgun background checks were there in Vermont?",
        store=ingest_env,
        embedder=get_embedder(),
        config=RetrievalConfig(top_k=3),
    )
    top = res.chunks[0]
    # the Vermont row, with its column labels, is the first hit; its location names the row
    assert top.kind == "table" and "Vermont" in top.text and "Handgun:" in top.text, top
    assert re.fullmatch(r"table \d+, rows? \d+(-\d+)?", top.location), top.location
    assert top.page == 1
    # the indexed text carries the table caption; the quoted text is the row alone
    assert "NICS Firearm Background Checks" in top.index_text
    assert not top.text.startswith("table ")


def test_two_column_page_chunks_read_column_by_column():
    # i1040nr page 1 is set in two columns; a sentence that runs down one column must come out
    # whole in one chunk (pypdf/pypdfium2's plain text interleaves the columns through it)
    data = read_doc("good/i1040nr.pdf")
    chunks = chunk_document(extract(data, "i1040nr.pdf"))
    page1 = [_norm(c.text) for c in chunks if c.pages == (1,)]
    sentence = (
        "The AMT exemption amount is decreased to $33,750 ($45,000 if a qualifying widow(er); "
        "$22,500 if married filing separately)."
    )
    assert any(sentence in t for t in page1), page1


def test_title_and_heading_are_searchable_but_never_quoted(ingest_env, tenant_a, editor_a):
    body = (
        "# Winter feeding\n\n"
        "The herd gets 41 bales of hay each week from December to March.\n\n"
        "# Summer grazing\n\n"
        "The herd moves to the upper meadow in June.\n"
    )
    doc = _ingest(tenant_a, editor_a, "farm.md", body.encode(), title="Zanzibar Goat Cooperative Handbook")
    chunks = list(Chunk.objects.for_tenant(tenant_a).filter(document=doc))
    assert chunks and all("Zanzibar" not in c.text for c in chunks)
    assert all(c.index_text.startswith("Zanzibar Goat Cooperative Handbook") for c in chunks)
    # BM25 alone (the words are only in the title) finds the document's chunks
    hits = ingest_env.search_text(tenant=str(tenant_a.pk), query="Zanzibar cooperative", top_k=5)
    assert {h.document_id for h in hits} == {doc.pk}
    res = chunks_retrieve(
        tenant=tenant_a,
        query="How many bales of hay does the Zanzibar cooperative feed in winter?",
        store=ingest_env,
        embedder=get_embedder(),
    )
    assert res.chunks and "41 bales" in res.chunks[0].text
    assert all("Zanzibar" not in c.text for c in res.chunks)
    assert res.chunks[0].location == "Winter feeding"


def test_reindex_queues_documents_of_another_model_only(ingest_env, tenant_a, editor_a):
    doc = _ingest(tenant_a, editor_a, "note.txt", b"The reindex test note mentions 17 turbines.")
    actor = Actor.system(label="test")
    model_id = get_embedder().model_id
    assert documents_reindex(tenant=tenant_a, actor=actor, model_id=model_id) == []
    assert documents_reindex(tenant=tenant_a, actor=actor, model_id="another/model") == [doc.pk]
    doc.refresh_from_db()
    assert doc.status == Document.Status.QUEUED and doc.generation == 1  # old set stays searchable
    document_ingest_task(tenant_id=tenant_a.pk, document_id=doc.pk)
    doc.refresh_from_db()
    assert doc.status == Document.Status.READY and doc.generation == 2


def test_each_embedding_model_gets_its_own_collection(settings):  # type: ignore[no-untyped-def]
    from models_registry.backends import embedder_config, vector_collection

    settings.TRITON_URL = ""
    settings.MILVUS_COLLECTION = "portal_chunks"
    settings.EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    assert vector_collection() == "portal_chunks"  # existing MiniLM deployments keep theirs
    settings.EMBEDDING_MODEL = "multilingual-e5-small"
    assert vector_collection() == "portal_chunks_e5s"
    assert embedder_config().inprocess_model == "multilingual-e5-small"
    settings.EMBEDDING_MODEL = "bert-base"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="EMBEDDING_MODEL"):
        embedder_config()


def test_german_document_is_found_from_an_english_and_a_german_question(ingest_env, tenant_a, editor_a):
    german = (
        "# Kompaktheit\n\n"
        "Ein topologischer Raum heißt kompakt, wenn jede offene Überdeckung eine endliche Teilüberdeckung "
        "besitzt. Das Intervall [0, 1] ist kompakt, die reelle Gerade dagegen nicht.\n\n"
        "# Zusammenhang\n\n"
        "Ein Raum heißt zusammenhängend, wenn er sich nicht als Vereinigung zweier disjunkter, nichtleerer, "
        "offener Mengen schreiben lässt.\n"
    )
    english = (
        "# Fleet maintenance\n\n"
        "Each aircraft is inspected every 400 flight hours. Open findings are closed before the next "
        "departure and recorded in the maintenance log.\n"
    )
    de = _ingest(tenant_a, editor_a, "skript.md", german.encode(), title="Topologie Skript")
    _ingest(tenant_a, editor_a, "fleet.md", english.encode(), title="Fleet handbook")
    for question in (
        "When is a topological space called compact?",
        "Wann heißt ein topologischer Raum kompakt?",
    ):
        res = chunks_retrieve(tenant=tenant_a, query=question, store=ingest_env, embedder=get_embedder())
        top = res.chunks[0]
        assert top.document_id == de.pk and "endliche Teilüberdeckung" in top.text, (question, top)


def test_rerank_stage_follows_the_setting_and_keeps_the_tenant(ingest_env, tenant_a, editor_a, settings):  # type: ignore[no-untyped-def]
    doc = _ingest(tenant_a, editor_a, "pump.md", b"# Pumps\n\nThe pump station moves 1,200 litres a minute.\n")
    kw = {"tenant": tenant_a, "query": "How many litres a minute does the pump move?", "store": ingest_env}
    settings.RETRIEVAL_RERANK = False
    plain = chunks_retrieve(embedder=get_embedder(), **kw)
    settings.RETRIEVAL_RERANK = True
    reranked = chunks_retrieve(embedder=get_embedder(), **kw)
    assert not plain.reranked and reranked.reranked and "rerank" in reranked.timings_ms
    assert reranked.chunks[0].document_id == doc.pk and "1,200 litres" in reranked.chunks[0].text
    assert 0.0 < reranked.chunks[0].score < 1.0  # the reranker's probability


def test_reindex_command(ingest_env, tenant_a, editor_a):  # type: ignore[no-untyped-def]
    from io import StringIO

    from django.core.management import CommandError, call_command

    doc = _ingest(tenant_a, editor_a, "memo.txt", b"The memo lists 12 depots.")
    out = StringIO()
    call_command("reindex_documents", "--tenant", tenant_a.slug, stdout=out)
    assert "Queued 0 document(s)" in out.getvalue()  # already indexed by the configured model
    call_command("reindex_documents", "--tenant", tenant_a.slug, "--all", stdout=out)
    assert "Queued 1 document(s)" in out.getvalue()
    doc.refresh_from_db()
    assert doc.status == Document.Status.QUEUED
    with pytest.raises(CommandError, match="no tenant"):
        call_command("reindex_documents", "--tenant", "no-such-tenant", stdout=out)
