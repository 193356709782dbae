"""Fault: the broker (Redis) is down while an upload arrives.

A private redis-server (never the machine's shared one) is *not running* when the file is
uploaded through the real HTTP API (tests/faults/broker_scenario.py). The upload is accepted
(202): the document and its stored file are committed, the document says it waits for the task
queue, and /readyz answers 503 naming ``broker``. Before this fix the send error escaped the
commit hook: the request answered 500 *and* the upload's error path deleted the stored file of a
committed row. Then Redis starts on the same port with one ``celery worker -B``: the sweep sends
the missing message by itself and the document ends ``ready``, once, with all its chunks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from documents.services.documents import NOT_QUEUED_DETAIL
from tests.documents.conftest import DOCS
from tests.documents.test_ingestion_worker import _row, _wait
from tests.support.milvus import start_lite_server
from tests.support.redis_server import RedisServer
from tests.support.worker import Workers, portal_env, run_scenario

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    redis = RedisServer(tmp_path / "redis")  # not started: the broker is down
    milvus = start_lite_server(tmp_path / "milvus")
    env = portal_env(
        tmp_path,
        MEDIA_ROOT=str(tmp_path / "var" / "media"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELERY_BROKER_URL=redis.url(),
        MILVUS_URI=milvus.uri,
        MILVUS_COLLECTION=f"fault_{uuid.uuid4().hex[:8]}",
        DOCUMENT_UNQUEUED_RETRY_S="1",
        DOCUMENT_SWEEP_INTERVAL_S="2",
    )
    workers = Workers(env, tmp_path)
    box = {"env": env, "tmp": tmp_path, "redis": redis, "workers": workers}
    try:
        yield box
    finally:
        workers.stop_all()
        milvus.stop()
        redis.stop()


def test_upload_while_the_broker_is_down_is_accepted_and_ingested_once_it_is_back(world):  # type: ignore[no-untyped-def]
    result = json.loads(
        run_scenario("tests.faults.broker_scenario", str(DOCS / "good/linn.txt"), env=world["env"], timeout=240)
    )
    assert result["upload_status"] == 202, result
    [doc] = result["upload"]["documents"]
    assert doc["status"] == "queued" and doc["status_detail"] == NOT_QUEUED_DETAIL
    assert result["readyz_status"] == 503
    assert result["readyz"]["checks"]["broker"]["ok"] is False
    assert result["readyz"]["checks"]["database"]["ok"] is True

    db, logs = world["tmp"] / "portal.sqlite3", world["tmp"]
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (stored,) = con.execute("SELECT file FROM documents_document WHERE id = ?", (doc["id"],)).fetchone()
    con.close()
    assert (world["tmp"] / "var" / "media" / stored).is_file()  # the committed row keeps its file
    assert _row(db, doc["id"])["status"] == "queued"

    world["redis"].start()
    world["workers"].start("worker", queues="ingestion", beat=True)
    _wait(lambda: _row(db, doc["id"])["status"] in ("ready", "failed"), 180, "the document to be ingested", logs)
    done = _row(db, doc["id"])
    assert done["status"] == "ready", done
    assert done["chunks_by_generation"] == {done["generation"]: done["chunks_total"]} and done["chunks_total"] > 0
    worker_log = (logs / "worker.log").read_text(errors="replace")
    assert f"sent after a broker outage [{doc['id']}]" in worker_log
    assert worker_log.count("Task documents.ingest[") >= 1
