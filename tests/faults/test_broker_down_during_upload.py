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
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from documents.services.documents import NOT_QUEUED_DETAIL
from tests.documents.conftest import DOCS
from tests.documents.test_ingestion_worker import _row, _wait
from tests.support.milvus import start_lite_server
from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    redis = RedisServer(tmp_path / "redis")  # not started: the broker is down
    milvus = start_lite_server(tmp_path / "milvus")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "var" / "media"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "CELERY_BROKER_URL": redis.url(),
        "MILVUS_URI": milvus.uri,
        "MILVUS_COLLECTION": f"fault_{uuid.uuid4().hex[:8]}",
        "TRITON_URL": "",
        "DOCUMENT_UNQUEUED_RETRY_S": "1",
        "DOCUMENT_SWEEP_INTERVAL_S": "2",
        "INFERENCE_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    box = {"env": env, "tmp": tmp_path, "redis": redis, "worker": None}
    try:
        yield box
    finally:
        worker = box["worker"]
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        milvus.stop()
        redis.stop()


def test_upload_while_the_broker_is_down_is_accepted_and_ingested_once_it_is_back(world):  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [sys.executable, "-m", "tests.faults.broker_scenario", str(DOCS / "good/linn.txt")],
        cwd=REPO,
        env=world["env"],
        capture_output=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
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
    log = open(logs / "worker.log", "wb")  # noqa: SIM115 - the child keeps its copy
    world["worker"] = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "ingestion", "--pool=solo"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "broker@%h", "--loglevel=INFO"),
            *("-B", "--schedule", str(logs / "beat-schedule")),
        ],
        cwd=REPO,
        env=world["env"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    _wait(lambda: _row(db, doc["id"])["status"] in ("ready", "failed"), 180, "the document to be ingested", logs)
    done = _row(db, doc["id"])
    assert done["status"] == "ready", done
    assert done["chunks_by_generation"] == {done["generation"]: done["chunks_total"]} and done["chunks_total"] > 0
    worker_log = (logs / "worker.log").read_text(errors="replace")
    assert f"sent after a broker outage [{doc['id']}]" in worker_log
    assert worker_log.count("Task documents.ingest[") >= 1
