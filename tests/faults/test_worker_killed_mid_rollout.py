"""Fault: the Celery worker is SIGKILLed in the middle of a rollout.

The rollout target is the Kubernetes API double (tests/support/k8s_double.py: real HTTP on
127.0.0.1, the official client unpatched; no real cluster runs here), run by this test and
reached by the workers as a tenant's stored cluster. Its Deployment controller is scripted to
become ready only after 40 status reads, one every 0.2 s, so the rollout spends ~8 s ``waiting``.
A private redis-server is the broker and a SQLite file is shared by every process.

Once the database shows the rollout ``waiting`` and the double has answered a few of its reads,
the worker's process group is SIGKILLed. The state left is consistent: still ``waiting``, no
terminal event, the deployment not live. Then a fresh worker with the real beat schedule
embedded (``-B``) starts, and nothing else is done by hand. The broker's visibility timeout is
kept long (as in production), so the dead worker's message does not come back during the test:
what resumes the rollout is ``deploy.sweep_stale_rollouts``, which re-sends a rollout whose
worker's lease (DEPLOY_ROLLOUT_LEASE_S, 3 s here) expired; the new claim re-applies (idempotent)
and the rollout ends ``active`` with its audit event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.k8s_double import KubeApiDouble, RolloutPlan
from tests.support.redis_server import RedisServer
from tests.support.worker import Workers, portal_env, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NAMESPACE = "team-kill"
NAME = "kill-triton"
POLL_S = 0.2
READY_AFTER_POLLS = 40
LEASE_S = 3


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    double = KubeApiDouble()
    double.start()
    double.create_namespace(NAMESPACE)
    double.set_plan(NAMESPACE, NAME, RolloutPlan(mode="ready", ready_after_polls=READY_AFTER_POLLS))
    env = portal_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELERY_BROKER_URL=redis.url(),
        # Production's 1 h: the dead worker's message is not what brings the rollout back.
        CELERY_VISIBILITY_TIMEOUT="3600",
        # The double serves plain http on loopback: allow-listed as an operator would.
        DEPLOY_KUBE_EGRESS_ALLOW="127.0.0.1/32",
        DEPLOY_KUBE_POLL_S=str(POLL_S),
        DEPLOY_ROLLOUT_LEASE_S=str(LEASE_S),
        DEPLOY_ROLLOUT_SWEEP_INTERVAL_S="1",
    )
    workers = Workers(env, tmp_path / "logs")
    try:
        yield {"env": env, "db": tmp_path / "portal.sqlite3", "workers": workers, "double": double}
    finally:
        workers.stop_all()
        double.stop()
        redis.stop()


def _state(db: Path, tenant_id: int, rollout_id: int, deployment_id: int) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        rollout = dict(
            con.execute(
                "SELECT state, reason, attempts, finished_at FROM deploy_rollout WHERE id = ?", (rollout_id,)
            ).fetchone()
        )
        deployment = dict(
            con.execute(
                "SELECT status, active_revision_id FROM deploy_deployment WHERE id = ?", (deployment_id,)
            ).fetchone()
        )
        events = [
            (state, message)
            for state, message in con.execute(
                "SELECT state, message FROM deploy_rolloutevent WHERE rollout_id = ? ORDER BY id", (rollout_id,)
            )
        ]
        audit = [
            row[0]
            for row in con.execute(
                "SELECT action FROM tenants_auditevent WHERE tenant_id = ? AND target_id = ? "
                "AND action LIKE 'deploy.rollout.%' ORDER BY id",
                (tenant_id, str(rollout_id)),
            )
        ]
        return {**rollout, "deployment": deployment, "events": events, "audit": audit}
    finally:
        con.close()


def _status_reads(double: KubeApiDouble) -> int:
    return sum(1 for r in double.log if r.method == "GET" and r.path.endswith(f"/deployments/{NAME}"))


def test_worker_sigkilled_mid_rollout_is_resumed_by_the_sweep_and_completes(world):  # type: ignore[no-untyped-def]
    double, db, workers = world["double"], world["db"], world["workers"]
    ids = json.loads(
        run_scenario("tests.faults.kill_scenario", "rollout", double.url, double.token, NAMESPACE, env=world["env"])
    )
    state = lambda: _state(db, ids["tenant_id"], ids["rollout_id"], ids["deployment_id"])  # noqa: E731

    workers.start("deploy1", queues="deploy")
    workers.wait_for(
        lambda: state()["state"] == "waiting" and _status_reads(double) >= 5, 90, "the rollout to be mid-wait"
    )
    workers.kill("deploy1")
    reads_at_kill = _status_reads(double)
    assert reads_at_kill < READY_AFTER_POLLS  # killed before the target was ready

    killed = state()
    # Nothing half-applied is recorded as done: still waiting, no terminal event, nothing live.
    assert killed["state"] == "waiting" and killed["finished_at"] is None, killed
    assert killed["attempts"] == 1
    assert [s for s, _ in killed["events"]] == ["pending", "applying", "applying", "applying", "waiting"], killed
    assert killed["deployment"] == {"status": "rolling_out", "active_revision_id": None}
    assert killed["audit"] == ["deploy.rollout.started"]
    assert double.get("Deployment", NAMESPACE, NAME) is not None  # the apply itself had happened

    started = time.monotonic()
    workers.start("deploy2", queues="deploy", beat=True)  # the part is back; nothing done by hand
    workers.wait_for(lambda: state()["state"] not in ("waiting", "applying", "verifying"), 60, "the rollout to end")
    resumed_after_s = time.monotonic() - started
    done = state()
    assert done["state"] == "active" and done["reason"] == "", done
    assert done["attempts"] == 2 and done["finished_at"] is not None
    assert any("previous worker lost in state waiting" in m for _, m in done["events"]), done["events"]
    assert done["events"][-1][0] == "active"
    assert done["deployment"]["status"] == "active" and done["deployment"]["active_revision_id"] is not None
    assert done["audit"] == ["deploy.rollout.started", "deploy.rollout.active"]
    assert _status_reads(double) >= READY_AFTER_POLLS  # the new worker waited for the target itself
    log2 = workers.log("deploy2")
    assert "deploy.sweep_stale_rollouts" in log2 and "lease expired in state waiting" in log2
    print(f"resumed and completed {resumed_after_s:.1f} s after the new worker started")
