"""Fault: the worker dies (SIGKILL, OOM) in the middle of a training run.

What the dead worker leaves: the run claimed (``running``, stage ``loading``) and its message
unacknowledged (acks_late + reject_on_worker_lost), which the broker hands out again flagged
``redelivered`` (kombu sets ``delivery_info["redelivered"]`` on Redis and on the filesystem
transport). Before the fix, the redelivered task found the run ``running``, could not claim it
(claims of running runs wait 2 h) and returned: the run stayed ``running`` for good. Now it ends
``failed`` with a sentence, and a sweep fails any run still ``running`` past the limit (the case
where the message was lost too). Since: the run is queued again and trained by the redelivered
message until it has been started RECS_TRAIN_MAX_ATTEMPTS times; then it ends ``failed`` with the
reason. A redelivered message whose run was never claimed trains.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from recommendations.models import TrainingRun
from recommendations.services import training_run_start, training_run_worker_lost, training_runs_sweep_stale
from recommendations.services.training import STALE_RUNNING_S, _claim, worker_lost_reason
from recommendations.tasks import training_run_task
from tenants.actors import Actor
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


def _queued(tenant, django_capture_on_commit_callbacks) -> TrainingRun:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        return training_run_start(tenant=tenant, actor=Actor.system(label="test"), params={"content": False})


def _deliver(run: TrainingRun, *, redelivered: bool) -> None:
    """Run the task body as the worker does for a message with this delivery_info."""
    training_run_task.push_request(delivery_info={"redelivered": redelivered})
    try:
        training_run_task(tenant_id=run.tenant_id, run_id=run.pk)
    finally:
        training_run_task.pop_request()


def _actions(tenant, run: TrainingRun) -> list[str]:  # type: ignore[no-untyped-def]
    events = AuditEvent.objects.for_tenant(tenant).filter(
        target_id=str(run.pk), action__startswith="recommendations.trainingrun."
    )
    events = events.order_by("id")
    return [e.action for e in events]


def test_redelivered_message_of_a_killed_worker_trains_the_run_again(
    tenant_a, seed, django_capture_on_commit_callbacks
):
    seed(tenant_a, n_users=40)
    run = _queued(tenant_a, django_capture_on_commit_callbacks)
    assert _claim(tenant_a, run.pk)  # the first worker claimed it, then was SIGKILLed

    _deliver(run, redelivered=False)  # a plain (second) delivery never takes a running run
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.attempts == 1

    _deliver(run, redelivered=True)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.READY and run.error == "", run.error
    assert run.attempts == 2 and run.model_version_id is not None
    assert _actions(tenant_a, run) == [
        "recommendations.trainingrun.queued",
        "recommendations.trainingrun.requeued",
        "recommendations.trainingrun.completed",
        "recommendations.trainingrun.activated",  # a tenant's first ready run goes live
    ]
    requeued = AuditEvent.objects.for_tenant(tenant_a).get(action="recommendations.trainingrun.requeued")
    assert requeued.changes == {"reason": worker_lost_reason(1), "attempts": 1}


def test_a_run_whose_workers_keep_dying_ends_failed_with_the_reason(
    tenant_a, seed, settings, django_capture_on_commit_callbacks
):
    settings.RECS_TRAIN_MAX_ATTEMPTS = 2
    seed(tenant_a, n_users=40)
    run = _queued(tenant_a, django_capture_on_commit_callbacks)
    assert _claim(tenant_a, run.pk)  # start 1: killed
    assert training_run_worker_lost(tenant=tenant_a, run_id=run.pk)  # queued again
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED and run.stage == TrainingRun.Stage.QUEUED
    assert _claim(tenant_a, run.pk)  # start 2: killed too

    _deliver(run, redelivered=True)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and run.error == worker_lost_reason(2)
    assert "stopped 2 times" in run.error
    assert run.attempts == 2 and run.finished_at is not None and run.model_version_id is None
    assert _actions(tenant_a, run)[-1] == "recommendations.trainingrun.failed"


def test_redelivered_message_of_a_run_never_claimed_trains_it(tenant_a, seed, django_capture_on_commit_callbacks):
    seed(tenant_a, n_users=40)
    run = _queued(tenant_a, django_capture_on_commit_callbacks)
    _deliver(run, redelivered=True)  # the dead worker had only prefetched it
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.READY, run.error


def test_sweep_fails_runs_left_running_past_the_limit(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    old = _queued(tenant_a, django_capture_on_commit_callbacks)
    fresh = _queued(tenant_b, django_capture_on_commit_callbacks)
    assert _claim(tenant_a, old.pk) and _claim(tenant_b, fresh.pk)
    long_ago = timezone.now() - dt.timedelta(seconds=STALE_RUNNING_S + 60)
    TrainingRun.objects.for_tenant(tenant_a).filter(pk=old.pk).update(started_at=long_ago)

    assert training_runs_sweep_stale() == [old.pk]
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == TrainingRun.Status.FAILED and "did not finish within 120 minutes" in old.error
    assert fresh.status == TrainingRun.Status.RUNNING  # still within its time: left alone
    assert training_runs_sweep_stale() == []  # idempotent
