"""The ingestion pipeline against the real Milvus Lite server and the real in-process MiniLM.

Task tests call the task function directly (twice, for idempotency); the broker-level crash test
with a real worker lives in test_ingestion_worker.py.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from documents.models import Chunk, Document
from documents.services import (
    LeaseHeld,
    document_ingest,
    document_reingest,
    document_sweep_stuck,
    document_upload,
)
from documents.tasks import document_ingest_task
from models_registry.backends import get_embedder, get_vector_store
from tenants.actors import Actor
from tests.documents.conftest import read_doc
from usage.models import UsageHour

Status = Document.Status


def upload(tenant, membership, name: str, data: bytes, **kw) -> Document:  # type: ignore[no-untyped-def]
    actor = Actor.for_user(membership.user, membership)
    return document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(name, data), **kw)


def ingest_twice(tenant, doc: Document) -> Document:  # type: ignore[no-untyped-def]
    """Run the task body twice (a duplicate delivery) and return the fresh row."""
    document_ingest_task(tenant_id=tenant.pk, document_id=doc.pk)
    document_ingest_task(tenant_id=tenant.pk, document_id=doc.pk)
    return Document.objects.for_tenant(tenant).get(pk=doc.pk)


def assert_one_generation(tenant, doc: Document, store) -> None:  # type: ignore[no-untyped-def]
    rows = Chunk.objects.for_tenant(tenant).filter(document=doc)
    assert set(rows.values_list("generation", flat=True)) == {doc.generation}
    assert rows.count() == doc.chunks_total == doc.chunks_done > 0
    assert sorted(rows.values_list("ordinal", flat=True)) == list(range(doc.chunks_total))
    assert store.count(tenant=str(tenant.pk), document_id=doc.pk) == doc.chunks_total


class CrashAfter:
    """The real embedder, with the process "dying" (an exception the pipeline does not handle)
    after ``n`` successful batches: what a SIGKILL looks like from the database's side."""

    def __init__(self, n: int) -> None:
        self.inner = get_embedder()
        self.n = n
        self.calls = 0
        self.dim = self.inner.dim
        self.model_id = self.inner.model_id

    def embed(self, texts):  # type: ignore[no-untyped-def]
        if self.calls >= self.n:
            raise SystemExit("simulated worker death")
        self.calls += 1
        return self.inner.embed(texts)


# ------------------------------------------------------------------------------------------------
# Happy path, idempotency, progress
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_pdf_ingests_with_pages_and_is_idempotent(ingest_env, tenant_a, editor_a):
    doc = upload(tenant_a, editor_a, "dmca.pdf", read_doc("good/dmca.pdf"))
    doc = ingest_twice(tenant_a, doc)
    assert doc.status == Status.READY, doc.error
    assert doc.generation == 1 and doc.pages_total == doc.pages_done == 18
    assert doc.embedding_model and doc.ingested_at and doc.stage_deadline is None and doc.lease_id == ""
    assert_one_generation(tenant_a, doc, ingest_env)
    pages = set(Chunk.objects.for_tenant(tenant_a).filter(document=doc).values_list("page", flat=True))
    assert min(pages) == 1 and max(pages) == 18 and len(pages) >= 15
    # Metered once (the duplicate delivery embedded nothing): chunks and embedding time, per model.
    metered = {r.metric: r for r in UsageHour.objects.for_tenant(tenant_a).filter(feature="embedding")}
    assert metered["chunks"].value == doc.chunks_total and metered["chunks"].model == doc.embedding_model
    assert metered["inference_ms"].value > 0
    # The stored vectors are the real embeddings: the chunk's own text finds it first.
    chunk = Chunk.objects.for_tenant(tenant_a).filter(document=doc).order_by("ordinal")[3]
    vec = get_embedder().embed([chunk.text])[0]
    hits = ingest_env.search(tenant=str(tenant_a.pk), vector=vec.tolist(), top_k=1)
    assert hits[0].chunk_id == chunk.pk and hits[0].generation == 1 and hits[0].page == chunk.page


@pytest.mark.parametrize(
    ("specimen", "name", "needle"),
    [
        ("bad/utf16.txt", "utf16.txt", "The Zürich warehouse shipped 1,234 crates of Grüner Veltliner in March."),
        ("bad/latin1.txt", "latin1.txt", "Das Büro in Köln hat eine Fläche von 42 m"),  # NFKC: m² -> m2
        ("good/footnotes.docx", "footnotes.docx", "A tachyon walks into a bar."),
        ("bad/path-traversal.pdf", "..%2f..%2fetc%2fpasswd.pdf", "the heron counts seventeen lanterns"),
    ],
)
@pytest.mark.django_db
def test_text_encodings_docx_and_hostile_name_ingest(ingest_env, tenant_a, editor_a, specimen, name, needle):
    doc = ingest_twice(tenant_a, upload(tenant_a, editor_a, name, read_doc(specimen)))
    assert doc.status == Status.READY, doc.error
    text = " ".join(Chunk.objects.for_tenant(tenant_a).filter(document=doc).values_list("text", flat=True))
    assert needle in text
    assert_one_generation(tenant_a, doc, ingest_env)


# ------------------------------------------------------------------------------------------------
# Bad input that passes the cheap upload checks: the task ends it FAILED with a sentence
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("specimen", "name", "code", "phrase"),
    [
        ("malformed/invalid.pdf", "invalid.pdf", "corrupt", "damaged or truncated"),
        ("malformed/truncated62886.docx", "truncated.docx", "corrupt", "damaged or truncated"),
        ("encrypted/r2-user-password.pdf", "locked.pdf", "encrypted", "password-protected"),
        ("encrypted/r6-both-passwords.pdf", "locked2.pdf", "encrypted", "password-protected"),
        ("scanned/c02-22.pdf", "scan.pdf", "no_text_layer", "scanned PDF: no extractable text; OCR is not enabled"),
        ("bad/zip-bomb.docx", "contract.docx", "unsafe", "unsafe"),
        (
            "bad/long-3000-pages.pdf",
            "long.pdf",
            "too_many_pages",
            "the document has 3000 pages; the limit is 2000 pages",
        ),
        ("bad/pages-cycle.pdf", "cycle.pdf", "corrupt", "damaged"),
    ],
)
@pytest.mark.django_db
def test_bad_documents_end_failed_with_a_reason_and_leave_nothing(
    ingest_env, tenant_a, editor_a, specimen, name, code, phrase
):
    doc = ingest_twice(tenant_a, upload(tenant_a, editor_a, name, read_doc(specimen)))
    assert doc.status == Status.FAILED
    assert doc.error_code == code, doc.error
    assert phrase in doc.error
    assert "Traceback" not in doc.error and "/tmp" not in doc.error
    assert doc.stage_deadline is None and doc.lease_id == "" and doc.generation == 0
    assert not Chunk.objects.for_tenant(tenant_a).filter(document=doc).exists()
    assert ingest_env.count(tenant=str(tenant_a.pk), document_id=doc.pk) == 0


@pytest.mark.django_db
def test_worker_survives_bad_files_and_ingests_the_next_good_one_without_touching_other_tenants(
    ingest_env, tenant_a, editor_a, tenant_b, owner_b
):
    good_b = ingest_twice(tenant_b, upload(tenant_b, owner_b, "linn.txt", read_doc("good/linn.txt")))
    b_chunks = list(Chunk.objects.for_tenant(tenant_b).values_list("pk", "text"))
    b_count = ingest_env.count(tenant=str(tenant_b.pk))
    for specimen in (
        "bad/zip-bomb.docx",
        "malformed/clusterfuzz-testcase-minimized-POIXWPFFuzzer-4959857092198400.docx",
        "scanned/linn.pdf",
    ):
        bad = ingest_twice(tenant_a, upload(tenant_a, editor_a, specimen.rsplit("/", 1)[1], read_doc(specimen)))
        assert bad.status == Status.FAILED and bad.error
    good = ingest_twice(tenant_a, upload(tenant_a, editor_a, "linn.txt", read_doc("good/linn.txt")))
    assert good.status == Status.READY
    assert_one_generation(tenant_a, good, ingest_env)
    assert good_b.status == Status.READY
    assert list(Chunk.objects.for_tenant(tenant_b).values_list("pk", "text")) == b_chunks
    assert ingest_env.count(tenant=str(tenant_b.pk)) == b_count > 0


# ------------------------------------------------------------------------------------------------
# Crash, resume, lease, re-ingest swap
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_run_dying_mid_embedding_is_resumed_by_its_redelivery(ingest_env, tenant_a, editor_a):
    doc = upload(tenant_a, editor_a, "dmca.pdf", read_doc("good/dmca.pdf"))
    with pytest.raises(SystemExit):
        document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="task-1", embedder=CrashAfter(2))
    mid = Document.objects.for_tenant(tenant_a).get(pk=doc.pk)
    # Batch 2's upsert finished while batch 3 was embedding, but its progress was never written:
    # chunks_done only ever counts vectors known to be stored.
    assert mid.status == Status.EMBEDDING and mid.chunks_done == 16 < mid.chunks_total
    gen = mid.building_generation
    assert ingest_env.count(tenant=str(tenant_a.pk), document_id=doc.pk) == 32
    # Redelivery of the same message: same task id = same lease, resumes the same generation.
    embedder = CrashAfter(10_000)
    done = document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="task-1", embedder=embedder)
    assert done.status == Status.READY and done.generation == gen
    assert embedder.calls == -(-(mid.chunks_total - 16) // 16)  # only the batches not known done
    assert_one_generation(tenant_a, done, ingest_env)


@pytest.mark.django_db
def test_other_run_waits_for_a_live_lease_and_takes_over_a_stale_one(ingest_env, tenant_a, editor_a, settings):
    doc = upload(tenant_a, editor_a, "linn.txt", read_doc("good/linn.txt"))
    settings.DOCUMENT_EMBED_BATCH = 1
    with pytest.raises(SystemExit):
        document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="run-1", embedder=CrashAfter(1))
    with pytest.raises(LeaseHeld):  # heartbeat is fresh: run-1 might still be alive
        document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="run-2")
    Document.objects.for_tenant(tenant_a).filter(pk=doc.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=settings.DOCUMENT_INGEST_LEASE_S + 1)
    )
    done = document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="run-2")
    assert done.status == Status.READY
    assert_one_generation(tenant_a, done, ingest_env)


@pytest.mark.django_db
def test_reingest_swaps_atomically(ingest_env, tenant_a, editor_a):
    doc = ingest_twice(tenant_a, upload(tenant_a, editor_a, "linn.txt", read_doc("good/linn.txt")))
    n = doc.chunks_total
    old_ids = set(Chunk.objects.for_tenant(tenant_a).filter(document=doc).values_list("pk", flat=True))
    document_reingest(tenant=tenant_a, actor=Actor.for_user(editor_a.user, editor_a), document=doc)
    seen: list[tuple[int, int, int]] = []

    class Watching:
        inner = get_embedder()
        dim, model_id = inner.dim, inner.model_id

        def embed(self, texts):  # type: ignore[no-untyped-def]
            # Mid-build: the old generation is still the active, complete, searchable set.
            row = Document.objects.for_tenant(tenant_a).get(pk=doc.pk)
            active = Chunk.objects.for_tenant(tenant_a).filter(document=doc, generation=row.generation).count()
            seen.append((row.generation, active, ingest_env.count(tenant=str(tenant_a.pk), document_id=doc.pk)))
            return self.inner.embed(texts)

    done = document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="re-1", embedder=Watching())
    assert seen and all(gen == 1 and active == n for gen, active, _ in seen)
    assert all(stored >= n for _, _, stored in seen)
    assert done.status == Status.READY and done.generation == 2
    assert_one_generation(tenant_a, done, ingest_env)
    new_ids = set(Chunk.objects.for_tenant(tenant_a).filter(document=doc).values_list("pk", flat=True))
    assert not (old_ids & new_ids)
    vec = get_embedder().embed(["LinnSequencer"])[0]
    assert {h.generation for h in ingest_env.search(tenant=str(tenant_a.pk), vector=vec.tolist(), top_k=50)} == {2}


# ------------------------------------------------------------------------------------------------
# Milvus down
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_milvus_down_then_back_nothing_lost_and_status_honest(settings, tenant_a, editor_a, tmp_path, ingest_env):
    from tests.documents.conftest import start_lite_server

    server = start_lite_server(tmp_path, "down.db")
    try:
        settings.MILVUS_URI = server.uri
        settings.MILVUS_TIMEOUT_S = 2.0
        doc = upload(tenant_a, editor_a, "linn.txt", read_doc("good/linn.txt"))
        server.stop()
        from inference.vectorstore import VectorStoreUnavailable

        with pytest.raises(VectorStoreUnavailable):  # the task's autoretry takes over from here
            document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="task-7")
        waiting = Document.objects.for_tenant(tenant_a).get(pk=doc.pk)
        assert not waiting.is_terminal
        assert "Milvus" in waiting.status_detail and waiting.error == ""
        assert waiting.file.storage.exists(waiting.file.name)

        # Retries exhausted while it stays down: failed, with a sentence saying why.
        other = upload(tenant_a, editor_a, "utf16.txt", read_doc("bad/utf16.txt"))
        max_retries = document_ingest_task.max_retries
        document_ingest_task.max_retries = 1
        try:
            result = document_ingest_task.apply(kwargs={"tenant_id": tenant_a.pk, "document_id": other.pk})
        finally:
            document_ingest_task.max_retries = max_retries
        assert result.failed()
        other.refresh_from_db()
        assert other.status == Status.FAILED and other.error_code == "vector_store_unavailable"
        assert "Milvus" in other.error and "re-queued automatically" in other.error

        # Same data file; a fresh port avoids racing the old socket's teardown on a busy machine.
        server = start_lite_server(tmp_path, "down.db")
        settings.MILVUS_URI = server.uri
        # The retry (a retry keeps the task id, hence the lease), once Milvus is back:
        assert document_ingest_task.apply(
            kwargs={"tenant_id": tenant_a.pk, "document_id": doc.pk}, task_id="task-7"
        ).successful()
        done = ingest_twice(tenant_a, doc)
        assert done.status == Status.READY and done.status_detail == "" and done.generation == 1
        assert_one_generation(tenant_a, done, get_vector_store())
        document_reingest(tenant=tenant_a, actor=Actor.for_user(editor_a.user, editor_a), document=other)
        assert ingest_twice(tenant_a, other).status == Status.READY
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------------
# Sweep: nothing stays non-terminal
# ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_sweep_requeues_once_then_fails_with_the_stage(
    ingest_env, tenant_a, editor_a, django_capture_on_commit_callbacks
):
    doc = upload(tenant_a, editor_a, "linn.txt", read_doc("good/linn.txt"))
    with pytest.raises(SystemExit):
        document_ingest(tenant=tenant_a, document_id=doc.pk, lease_id="dead-run", embedder=CrashAfter(0))
    stuck = Document.objects.for_tenant(tenant_a).get(pk=doc.pk)
    assert stuck.status == Status.EMBEDDING
    later = stuck.stage_deadline + dt.timedelta(seconds=1)
    assert document_sweep_stuck(now=stuck.stage_deadline - dt.timedelta(seconds=1)).requeued == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = document_sweep_stuck(now=later)
    assert result.requeued == [doc.pk] and len(callbacks) == 1
    again = Document.objects.for_tenant(tenant_a).get(pk=doc.pk)
    assert again.status == Status.QUEUED and again.requeues == 1 and "re-queued" in again.status_detail
    assert document_sweep_stuck(now=later).requeued == []  # idempotent: deadline was moved
    # The re-queued run builds a fresh generation; the dead run's rows and vectors go.
    done = ingest_twice(tenant_a, again)
    assert done.status == Status.READY and done.generation == stuck.building_generation + 1
    assert_one_generation(tenant_a, done, ingest_env)

    # A second document that gets stuck twice is failed, naming the stage.
    doc2 = upload(tenant_a, editor_a, "utf16.txt", read_doc("bad/utf16.txt"))
    Document.objects.for_tenant(tenant_a).filter(pk=doc2.pk).update(requeues=1)
    result = document_sweep_stuck(now=timezone.now() + dt.timedelta(days=1))
    assert result.failed == [doc2.pk]
    doc2.refresh_from_db()
    assert doc2.status == Status.FAILED and doc2.error_code == "deadline"
    assert "'queued' stage did not finish in time" in doc2.error and "re-ingest" in doc2.error


@pytest.mark.django_db
def test_task_on_missing_document_or_tenant_is_a_no_op(ingest_env, tenant_a):
    document_ingest_task(tenant_id=tenant_a.pk, document_id=999_999)
    document_ingest_task(tenant_id=999_999, document_id=1)
    assert not Document.objects.for_tenant(tenant_a).exists()


def test_embedder_contract_is_what_the_pipeline_needs(settings):
    settings.TRITON_URL = ""
    out = get_embedder().embed(["a", "b"])
    assert out.dtype == np.float32 and out.shape == (2, settings.EMBEDDING_DIM)
