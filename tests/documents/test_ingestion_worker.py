"""A real Celery worker on Redis is SIGKILLed mid-embedding; the redelivered task finishes the
document on a second worker with exactly one generation of chunks and the same number of vectors.

Everything runs out of process against a SQLite file (the worker must share the database): the
upload through ``document_upload`` (tests/documents/worker_scenario.py), two ``celery worker``
processes (``--pool=solo``, so SIGKILL takes the task down with the worker), Redis
(PORTAL_TEST_REDIS_URL or redis://127.0.0.1:6379/13, flushed before and after) with a 4 s
visibility timeout so the unacknowledged message comes back within seconds, and the session's
Milvus Lite server.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.vectorstore import VectorStore, VectorStoreUnavailable
from tests.documents.conftest import DOCS
from tests.support.worker import Workers, portal_env, run_scenario

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
VISIBILITY_TIMEOUT_S = 4

pytestmark = pytest.mark.slow


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def scenario(tmp_path: Path, milvus_server) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    _flush_redis()
    collection = f"kill_{uuid.uuid4().hex[:8]}"
    env = portal_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_S),
        MILVUS_URI=milvus_server.uri,
        MILVUS_COLLECTION=collection,
        # MiniLM keeps the collection name as given (and loads in 1 s instead of e5's ~10 s)
        EMBEDDING_MODEL="all-MiniLM-L6-v2",
        DOCUMENT_EMBED_BATCH="4",
    )
    workers = Workers(env, tmp_path)
    try:
        yield {
            "env": env,
            "db": tmp_path / "portal.sqlite3",
            "collection": collection,
            "workers": workers,
            "logs": tmp_path,
        }
    finally:
        workers.stop_all()
        _flush_redis()


def _row(db: Path, document_id: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        row = con.execute(
            "SELECT status, error, chunks_done, chunks_total, generation, building_generation, lease_id "
            "FROM documents_document WHERE id = ?",
            (document_id,),
        ).fetchone()
        chunks = con.execute(
            "SELECT generation, COUNT(*) FROM documents_chunk WHERE document_id = ? GROUP BY generation",
            (document_id,),
        ).fetchall()
        return {**dict(row), "chunks_by_generation": dict(chunks)}
    finally:
        con.close()


def _wait(predicate, timeout: float, what: str, logs: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tails = {p.name: p.read_text(errors="replace")[-3000:] for p in logs.glob("*.log")}
    raise AssertionError(f"timed out waiting for {what}; worker logs: {tails}")


def test_sigkill_mid_embedding_then_redelivery_leaves_exactly_one_set(scenario, milvus_server):  # type: ignore[no-untyped-def]
    ids = json.loads(
        run_scenario("tests.documents.worker_scenario", str(DOCS / "good/dmca.pdf"), "dmca.pdf", env=scenario["env"])
    )
    db, doc_id, logs = scenario["db"], ids["document_id"], scenario["logs"]
    store = VectorStore(milvus_server.uri, collection=scenario["collection"], timeout_s=10)
    tenant = str(ids["tenant_id"])

    workers = scenario["workers"]
    workers.start("kill1", queues="ingestion")
    _wait(
        lambda: (r := _row(db, doc_id))["status"] == "embedding" and r["chunks_done"] >= 8,
        120,
        "the first worker to be mid-embedding",
        logs,
    )
    workers.kill("kill1")
    killed = _row(db, doc_id)
    assert killed["status"] == "embedding", killed
    assert 0 < killed["chunks_done"] < killed["chunks_total"], killed
    assert killed["chunks_by_generation"] == {killed["building_generation"]: killed["chunks_total"]}
    assert _count(store, tenant, doc_id) < killed["chunks_total"]

    workers.start("kill2", queues="ingestion")
    _wait(lambda: _row(db, doc_id)["status"] in ("ready", "failed"), 150, "the redelivered task to finish", logs)
    done = _row(db, doc_id)
    assert done["status"] == "ready", done
    assert done["generation"] == killed["building_generation"]  # the same generation was resumed
    assert done["chunks_by_generation"] == {done["generation"]: done["chunks_total"]}
    assert done["chunks_done"] == done["chunks_total"] == killed["chunks_total"]
    assert _count(store, tenant, doc_id) == done["chunks_total"]
    log2 = (logs / "kill2.log").read_text(errors="replace")
    assert "documents.ingest" in log2 and "succeeded" in log2
    store.close()


def _count(store: VectorStore, tenant: str, doc_id: int) -> int:
    """The vector count, waiting out a briefly unresponsive Milvus Lite on a loaded machine
    (this test is about exactly-once indexing, not about Milvus availability)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return store.count(tenant=tenant, document_id=doc_id)
        except VectorStoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
