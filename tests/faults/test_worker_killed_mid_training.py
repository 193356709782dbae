"""Fault: the Celery worker is SIGKILLed while it trains a recommender.

A private redis-server as broker (4 s visibility timeout, so the unacknowledged message comes
back within seconds), a SQLite file shared by every process, and real ``celery worker``
processes. The run is started through ``training_run_start`` (tests/faults/kill_scenario.py)
with a catalog large enough that embedding its texts takes seconds; once the database shows the
run in its ``embedding`` stage, the worker's process group is SIGKILLed (``kill -9``, as the OOM
killer does). Then a fresh worker is started and nothing else is done by hand: the broker hands
it the message again flagged ``redelivered``, the run goes back to ``queued`` (audited, with the
reason) and the fresh worker trains it to ``ready``: one model version registered, one artifact.
Nothing was registered or stored while it was killed. (A run whose workers keep dying ends
``failed`` with the reason after RECS_TRAIN_MAX_ATTEMPTS starts:
tests/recommendations/app/test_training_worker_lost.py.)
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recommendations.services.training import worker_lost_reason
from tests.support.redis_server import RedisServer
from tests.support.worker import Workers, portal_env, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# The broker gives an unacknowledged message back once it is this old (counted from its
# delivery); a starting worker scans for such messages at once, a running one every ~100 s.
VISIBILITY_TIMEOUT_S = 4
# Items embedded by the run, twice (killed, then trained again): enough that the run stays in its
# embedding stage for seconds (the model load plus ~20-50 items/s on one CPU thread), no more.
FILLER_ITEMS = 800


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    env = portal_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELERY_BROKER_URL=redis.url(),
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_S),
        # MiniLM loads in about a second (e5 takes ~10 s)
        EMBEDDING_MODEL="all-MiniLM-L6-v2",
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    workers = Workers(env, tmp_path / "logs")
    try:
        yield {"env": env, "db": tmp_path / "portal.sqlite3", "workers": workers, "tmp": tmp_path}
    finally:
        workers.stop_all()
        redis.stop()


def _state(db: Path, tenant_id: int, run_id: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        run = dict(
            con.execute(
                "SELECT status, stage, error, attempts, model_version_id, artifact_path, finished_at, is_active "
                "FROM recommendations_trainingrun WHERE id = ?",
                (run_id,),
            ).fetchone()
        )
        versions = con.execute(
            "SELECT COUNT(*) FROM models_registry_modelversion WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()[0]
        audit = [
            (action, json.loads(changes or "{}"))
            for action, changes in con.execute(
                "SELECT action, changes FROM tenants_auditevent WHERE tenant_id = ? AND target_id = ? "
                "AND action LIKE 'recommendations.trainingrun.%' ORDER BY id",
                (tenant_id, str(run_id)),
            )
        ]
        return {**run, "versions": versions, "audit": audit}
    finally:
        con.close()


def test_worker_sigkilled_mid_training_the_run_is_trained_again_on_its_own(world):  # type: ignore[no-untyped-def]
    ids = json.loads(run_scenario("tests.faults.kill_scenario", "training", str(FILLER_ITEMS), env=world["env"]))
    db, workers, tenant_id, run_id = world["db"], world["workers"], ids["tenant_id"], ids["run_id"]

    workers.start("train1", queues="default")
    workers.wait_for(
        lambda: _state(db, tenant_id, run_id)["stage"] == "embedding", 120, "the run to reach its embedding stage"
    )
    workers.kill("train1")

    killed = _state(db, tenant_id, run_id)
    # Mid-way and nothing half-written: claimed and embedding, no version, no artifact, no end.
    assert killed["status"] == "running" and killed["stage"] == "embedding" and killed["attempts"] == 1, killed
    assert killed["model_version_id"] is None and killed["artifact_path"] == "" and killed["finished_at"] is None
    assert killed["versions"] == 0
    assert [a for a, _ in killed["audit"]] == ["recommendations.trainingrun.queued"]
    assert not list((world["tmp"] / "media").rglob("run-*")), "nothing stored by the killed worker"

    # The part comes back once the message is past the visibility timeout (a worker coming back
    # sooner picks it up on its periodic scan instead, ~100 s later); nothing is done by hand.
    time.sleep(VISIBILITY_TIMEOUT_S + 0.5)
    workers.start("train2", queues="default")
    workers.wait_for(
        lambda: _state(db, tenant_id, run_id)["status"] in ("ready", "failed"), 150, "the redelivered run to end"
    )
    done = _state(db, tenant_id, run_id)
    assert done["status"] == "ready" and done["error"] == "" and done["attempts"] == 2, done
    assert done["finished_at"] is not None and done["model_version_id"] is not None
    assert done["versions"] == 1  # exactly one version, from the second start
    actions = [a for a, _ in done["audit"]]
    assert actions == [
        "recommendations.trainingrun.queued",
        "recommendations.trainingrun.requeued",
        "recommendations.trainingrun.completed",
        "recommendations.trainingrun.activated",  # a tenant's first ready run goes live
    ], done["audit"]
    assert done["audit"][1][1] == {"reason": worker_lost_reason(1), "attempts": 1}
    stored = {p.parent.name for p in (world["tmp"] / "media").rglob("*") if p.is_file() and "run-" in str(p)}
    assert len(stored) == 1, stored  # one artifact folder, the finished run's
    log2 = workers.log("train2")
    assert "recommendations.train" in log2 and "succeeded" in log2  # the redelivered task ran to its end
