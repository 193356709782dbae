"""Fault: PostgreSQL restarted while a document is being ingested.

A private PostgreSQL cluster (initdb in a temp directory, pg_ctl on a free port; never the
machine's server), a private redis-server, a private Milvus Lite and one real ``celery worker``.
While the worker embeds the document, PostgreSQL is stopped (fast shutdown: every session is
terminated), stays down 3 s and starts again. The task's next write fails with a database
error; the task retries with backoff on a fresh connection, resumes its own lease, and the
document ends ``ready`` with one generation of chunks and as many vectors as chunks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.test import override_settings

from inference.vectorstore import VectorStore
from models_registry.backends import vector_collection
from tests.documents.conftest import DOCS
from tests.support import postgres_server
from tests.support.milvus import start_lite_server
from tests.support.redis_server import RedisServer
from tests.support.worker import Workers, portal_env, run_scenario

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_server.available(), reason="PostgreSQL server binaries are not installed"),
]


def _worker_collection(env: dict[str, str]) -> str:
    """The collection the worker wrote: its MILVUS_COLLECTION, suffixed for the embedding model."""
    with override_settings(MILVUS_COLLECTION=env["MILVUS_COLLECTION"]):
        return vector_collection()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    pg = postgres_server.PostgresServer()
    redis = RedisServer(tmp_path / "redis")
    milvus = None
    try:
        pg.init()
        pg.start()
        redis.start()
        milvus = start_lite_server(tmp_path / "milvus")
        env = portal_env(
            tmp_path,
            DATABASE_URL=pg.url(),
            DATABASE_CONN_MAX_AGE="60",
            CELERY_BROKER_URL=redis.url(),
            MILVUS_URI=milvus.uri,
            MILVUS_COLLECTION=f"fault_{uuid.uuid4().hex[:8]}",
            DOCUMENT_EMBED_BATCH="4",
            DOCUMENT_INGEST_RETRY_BACKOFF_MAX_S="2",
        )
        workers = Workers(env, tmp_path)
        box = {"env": env, "tmp": tmp_path, "pg": pg, "milvus": milvus, "workers": workers}
        yield box
    finally:
        if "workers" in locals():
            workers.stop_all()
        if milvus is not None:
            milvus.stop()
        redis.stop()
        pg.remove()


def _row(url: str, document_id: int) -> dict:
    try:
        with psycopg.connect(url, connect_timeout=5) as con:
            status, done, total, generation, lease = con.execute(
                "SELECT status, chunks_done, chunks_total, generation, lease_id FROM documents_document WHERE id = %s",
                (document_id,),
            ).fetchone()
            chunks = dict(
                con.execute(
                    "SELECT generation, COUNT(*) FROM documents_chunk WHERE document_id = %s GROUP BY generation",
                    (document_id,),
                ).fetchall()
            )
    except psycopg.OperationalError:
        return {"status": "database down"}
    return {
        "status": status,
        "chunks_done": done,
        "chunks_total": total,
        "generation": generation,
        "lease_id": lease,
        "chunks_by_generation": chunks,
    }


def _wait(predicate, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log: {log.read_text(errors='replace')[-4000:]}")


def test_postgres_restart_mid_ingestion_is_retried_and_the_document_completes(world):  # type: ignore[no-untyped-def]
    ids = json.loads(
        run_scenario("tests.documents.worker_scenario", str(DOCS / "good/dmca.pdf"), "dmca.pdf", env=world["env"])
    )
    url, doc_id, log = world["pg"].url(), ids["document_id"], world["tmp"] / "worker.log"
    world["workers"].start("worker", queues="ingestion")
    _wait(
        lambda: (r := _row(url, doc_id))["status"] == "embedding" and r["chunks_done"] >= 4,
        150,
        "the worker to be mid-embedding",
        log,
    )
    world["pg"].restart(down_s=3.0)
    _wait(lambda: _row(url, doc_id)["status"] in ("ready", "failed"), 180, "the document to finish", log)
    done = _row(url, doc_id)
    assert done["status"] == "ready", done
    assert done["chunks_by_generation"] == {done["generation"]: done["chunks_total"]}, done
    assert done["chunks_done"] == done["chunks_total"] > 4 and done["lease_id"] == ""
    worker_log = log.read_text(errors="replace")
    assert "retry: Retry in" in worker_log and "OperationalError" in worker_log  # it was retried
    store = VectorStore(world["milvus"].uri, collection=_worker_collection(world["env"]), timeout_s=10)
    try:
        assert store.count(tenant=str(ids["tenant_id"]), document_id=doc_id) == done["chunks_total"]
    finally:
        store.close()
