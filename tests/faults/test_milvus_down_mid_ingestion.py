"""Fault: Milvus stopped mid-ingestion, for longer than the task's own retries.

Out of process and real: a private Milvus Lite server, a private redis-server as the broker, a
SQLite file shared with one ``celery worker -B`` (solo pool, beat embedded so the periodic sweep
runs every 2 s). The upload goes through ``document_upload`` (tests/documents/worker_scenario.py).

While the document is being embedded Milvus is stopped: the task retries with backoff, says so
in ``status_detail`` ("waiting to retry: the vector store (Milvus) is unavailable"), and after
its last retry the document is ``failed`` with that reason (code ``vector_store_unavailable``);
the sweep leaves it alone while Milvus is still down. Milvus comes back on the same port and
file: the sweep re-queues the document by itself and it ends ``ready`` with exactly one
generation of chunks and as many vectors as chunks (no duplicates, nothing half-indexed).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from inference.vectorstore import VectorStore, VectorStoreUnavailable
from models_registry.backends import vector_collection
from tests.documents.conftest import DOCS
from tests.documents.test_ingestion_worker import _row, _wait
from tests.support.milvus import start_lite_server, wait_no_engine
from tests.support.redis_server import RedisServer
from tests.support.worker import Workers, portal_env, run_scenario

pytestmark = pytest.mark.slow


def _worker_collection(env: dict[str, str]) -> str:
    """The collection the worker wrote: its MILVUS_COLLECTION, suffixed for the embedding model."""
    with override_settings(MILVUS_COLLECTION=env["MILVUS_COLLECTION"]):
        return vector_collection()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    milvus = start_lite_server(tmp_path / "milvus")
    env = portal_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELERY_BROKER_URL=redis.url(),
        CELERY_VISIBILITY_TIMEOUT="30",
        MILVUS_URI=milvus.uri,
        MILVUS_COLLECTION=f"fault_{uuid.uuid4().hex[:8]}",
        MILVUS_TIMEOUT_S="2",
        DOCUMENT_EMBED_BATCH="4",
        DOCUMENT_INGEST_MAX_RETRIES="2",
        DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S="2",
        DOCUMENT_SWEEP_INTERVAL_S="2",
    )
    workers = Workers(env, tmp_path)
    box = {"env": env, "tmp": tmp_path, "milvus": milvus, "redis": redis, "workers": workers}
    try:
        yield box
    finally:
        workers.stop_all()
        box["milvus"].stop()
        redis.stop()


def _count(store: VectorStore, tenant: str, doc_id: int) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return store.count(tenant=tenant, document_id=doc_id)
        except VectorStoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_milvus_down_mid_ingestion_fails_with_a_reason_then_resumes_by_itself(world):  # type: ignore[no-untyped-def]
    ids = json.loads(
        run_scenario("tests.documents.worker_scenario", str(DOCS / "good/dmca.pdf"), "dmca.pdf", env=world["env"])
    )
    db, doc_id, logs = world["tmp"] / "portal.sqlite3", ids["document_id"], world["tmp"]
    world["workers"].start("worker", queues="ingestion", beat=True)
    _wait(
        lambda: (r := _row(db, doc_id))["status"] == "embedding" and r["chunks_done"] >= 4,
        150,
        "the worker to be mid-embedding",
        logs,
    )
    milvus = world["milvus"]
    port, directory, db_path = milvus.port, milvus.db_path.parent, milvus.db_path
    milvus.stop()
    assert not wait_no_engine(db_path)

    _wait(lambda: _row(db, doc_id)["status"] == "failed", 120, "the document to fail after its retries", logs)
    # The task retried with backoff first (each retry notes "waiting to retry: ..." in
    # status_detail; with a 2 s backoff cap those notes live too briefly to sample here).
    assert "retry: Retry in" in (logs / "worker.log").read_text(errors="replace")

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    error, code = con.execute("SELECT error, error_code FROM documents_document WHERE id = ?", (doc_id,)).fetchone()
    con.close()
    assert code == "vector_store_unavailable"
    assert "vector store (Milvus) stayed unavailable" in error and "re-queued automatically" in error

    time.sleep(5)  # two sweep intervals with Milvus still down: nothing is re-queued
    assert _row(db, doc_id)["status"] == "failed"

    world["milvus"] = start_lite_server(directory, port=port)
    _wait(lambda: _row(db, doc_id)["status"] == "ready", 180, "the sweep to re-queue and finish the document", logs)
    done = _row(db, doc_id)
    assert done["chunks_by_generation"] == {done["generation"]: done["chunks_total"]}, done
    assert done["chunks_done"] == done["chunks_total"] > 4
    assert done["lease_id"] == ""
    store = VectorStore(world["milvus"].uri, collection=_worker_collection(world["env"]), timeout_s=10)
    try:
        # Leftovers of the abandoned generation are removed by a cleanup run the sweep queues.
        deadline = time.monotonic() + 60
        while _count(store, str(ids["tenant_id"]), doc_id) != done["chunks_total"] and time.monotonic() < deadline:
            time.sleep(1)
        assert _count(store, str(ids["tenant_id"]), doc_id) == done["chunks_total"]
    finally:
        store.close()
    log = (logs / "worker.log").read_text(errors="replace")
    assert "re-queued after a backend outage" in log
