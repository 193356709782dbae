"""Rollouts: start (or manual rollback), execute as a state machine, sweep the stale ones.

State machine (Rollout.State):

    pending -> applying -> waiting -> verifying -> active
                  \\__________\\__________\\-> rolling_back -> rolled_back   (a previous revision exists)
                                                          \\-> failed        (first rollout: applied objects
                                                                             removed; or the rollback failed)
    pending/applying (nothing applied: bad credentials, unreachable) -> failed

Invariants:
- One in-progress rollout per deployment, enforced by the partial unique index
  `uniq_rollout_in_progress`: a concurrent start hits IntegrityError -> Conflict (409).
- Every transition is `UPDATE ... WHERE pk=… AND state=<expected> AND claim_token=<mine>`; a worker
  whose claim was taken (by the sweep, or a redelivered copy of its task) stops at its next step.
- The executing worker renews `lease_expires_at` at every step and poll. A redelivered task
  (acks_late + reject_on_worker_lost after a crash) re-claims only a rollout whose lease expired,
  and resumes from `applying` (applies are idempotent) or continues `rolling_back`.
- `rollout_sweep_stale` ends every in-progress rollout past `deadline_at`: rolled back to the
  previous revision, or failed; nothing stays "in progress" forever.
- Within its deadline, a started rollout whose lease expired (its worker died, its message is not
  back yet) is re-sent by the same sweep, so it resumes instead of waiting for the deadline.
- Terminal transitions write the deployment's status and an audit event in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from deploy.k8s.manifests import ManifestError
from deploy.models import Deployment, Revision, Rollout, RolloutEvent
from deploy.services.clusters import ClusterCredentialsInvalid, kube_target_for
from deploy.services.deployments import ManifestInvalid
from deploy.specs import deployment_snapshot, manifests_for
from deploy.targets import (
    KubernetesTarget,
    LocalTritonTarget,
    RevisionData,
    RolloutTarget,
    TargetError,
    TargetNothingApplied,
)
from inference.triton.client import TritonAdmin
from models_registry.backends import local_triton_config
from models_registry.trust import LocalArtifactPolicy, serving_limits_check
from portal.celery import enqueue
from portal.exceptions import ApplicationError, Conflict
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record
from usage import meter

logger = logging.getLogger(__name__)
S = Rollout.State

# Time a rollback gets to settle even when the rollout itself used up its deadline.
ROLLBACK_MIN_S = 60.0

# Tests and operators may swap how targets are built (e.g. a shorter poll against the API double).
TargetFactory = Callable[[Deployment, Callable[[float], None]], RolloutTarget]


def _lease_s() -> int:
    """How long a silent worker keeps its rollout (renewed at every step and poll)."""
    return int(settings.DEPLOY_ROLLOUT_LEASE_S)


class LostClaim(Exception):
    """Another executor (the sweep, a redelivered task) owns this rollout now: stop quietly."""


# ---- starting ----------------------------------------------------------------------------------


def _refuse_concurrent(tenant: Tenant, deployment: Deployment) -> None:
    busy = Rollout.objects.for_tenant(tenant).filter(deployment=deployment, state__in=Rollout.IN_PROGRESS).first()
    if busy is not None:
        raise Conflict(
            f"Deployment {deployment.name} already has rollout {busy.pk} in progress ({busy.state}); "
            "wait for it to finish.",
            extra={"rollout_id": busy.pk},
        )


def _create_rollout(*, tenant: Tenant, actor: Actor, deployment: Deployment, revision: Revision, kind: str) -> Rollout:
    """Insert the rollout (the DB refuses a second in-progress one) and enqueue it on commit."""
    now = timezone.now()
    try:
        with transaction.atomic():  # savepoint: the IntegrityError must not poison the outer block
            rollout = Rollout.objects.create(
                tenant=tenant,
                deployment=deployment,
                revision=revision,
                previous_revision=deployment.active_revision,
                kind=kind,
                deadline_at=now + dt.timedelta(seconds=deployment.rollout_timeout_s),
                created_by=actor.user if actor.user and actor.user.pk else None,
            )
    except IntegrityError as exc:
        raise Conflict(f"Deployment {deployment.name} already has a rollout in progress.") from exc
    Deployment.objects.for_tenant(tenant).filter(pk=deployment.pk).update(
        status=Deployment.Status.ROLLING_OUT, updated_at=now
    )
    _event(rollout, S.PENDING, f"{kind} to revision {revision.number} queued")
    enqueue("deploy.rollout", tenant_id=tenant.pk, rollout_id=rollout.pk)
    return rollout


def _check_local_limits(tenant: Tenant, snapshot: dict[str, Any]) -> None:
    """The shared local server's knob limits, refused now (400) rather than by the rollout."""
    for m in snapshot["models"]:
        try:
            serving_limits_check(
                tenant_id=None if m.get("shared") else tenant.pk,
                max_batch_size=int(m.get("max_batch_size") or 0),
                serving=m.get("serving"),
            )
        except ApplicationError as exc:
            raise ApplicationError(f"{m['model']} v{m['version']}: {exc.message}", extra=exc.extra) from None


def rollout_start(*, tenant: Tenant, actor: Actor, deployment: Deployment) -> Rollout:
    """Freeze the deployment into a new revision and roll it out. Raises Conflict (409) when a
    rollout is in progress, ManifestInvalid (400), PermissionDenied."""
    access_require(tenant=tenant, actor=actor, capability="deploy.rollout", target=deployment)
    with transaction.atomic():
        # Serialises revision numbering per deployment (PostgreSQL; SQLite serialises writers anyway).
        Deployment.objects.for_tenant(tenant).select_for_update().filter(pk=deployment.pk).first()
        deployment.refresh_from_db(fields=["active_revision", "status"])
        _refuse_concurrent(tenant, deployment)
        snapshot = deployment_snapshot(deployment)
        if not snapshot["models"]:
            raise ApplicationError("model_versions: the deployment serves no model version.")
        if deployment.target == Deployment.Target.LOCAL:
            _check_local_limits(tenant, snapshot)
        last = Revision.objects.for_tenant(tenant).filter(deployment=deployment).aggregate(n=Max("number"))["n"]
        number = (last or 0) + 1
        try:
            manifests = manifests_for(snapshot, number)
        except ManifestError as exc:
            raise ManifestInvalid(str(exc), extra={"problems": list(exc.problems)}) from exc
        revision = Revision.objects.create(
            tenant=tenant,
            deployment=deployment,
            number=number,
            spec=snapshot,
            manifests=manifests,
            created_by=actor.user if actor.user else None,
        )
        rollout = _create_rollout(
            tenant=tenant, actor=actor, deployment=deployment, revision=revision, kind=Rollout.Kind.ROLLOUT
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.rollout.started",
            target=rollout,
            changes={
                "deployment": deployment.name,
                "revision": [None, number],
                "models": [f"{m['model']}:{m['version']}" for m in snapshot["models"]],
            },
        )
        # In the transaction: a rolled-back start is not counted (database backend).
        meter.record(
            tenant.pk,
            "rollouts",
            token_id=actor.token.pk if actor.token is not None else None,
            model=deployment.name,
            rollouts=1,
        )
    return rollout


def rollback_start(*, tenant: Tenant, actor: Actor, deployment: Deployment, revision: Revision) -> Rollout:
    """Manual rollback: roll the stored manifests of `revision` out again (any earlier revision).
    Raises Conflict (409) when a rollout is in progress, ApplicationError when it is already live."""
    access_require(tenant=tenant, actor=actor, capability="deploy.rollout", target=deployment)
    if revision.deployment_id != deployment.pk:
        raise ApplicationError("revision: that revision belongs to another deployment.")
    with transaction.atomic():
        Deployment.objects.for_tenant(tenant).select_for_update().filter(pk=deployment.pk).first()
        deployment.refresh_from_db(fields=["active_revision", "status"])
        _refuse_concurrent(tenant, deployment)
        if deployment.active_revision_id == revision.pk and deployment.status == Deployment.Status.ACTIVE:
            raise ApplicationError(f"revision: revision {revision.number} is already live.")
        rollout = _create_rollout(
            tenant=tenant, actor=actor, deployment=deployment, revision=revision, kind=Rollout.Kind.ROLLBACK
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.rollout.rollback_started",
            target=rollout,
            changes={
                "deployment": deployment.name,
                "revision": [
                    deployment.active_revision.number if deployment.active_revision else None,
                    revision.number,
                ],
            },
        )
    return rollout


# ---- executing ---------------------------------------------------------------------------------


def _event(rollout: Rollout, state: str, message: str, **detail: Any) -> None:
    RolloutEvent.objects.create(rollout=rollout, state=state, message=message[:4000], detail=detail)


def _revision_data(revision: Revision | None, rollout: Rollout) -> RevisionData | None:
    if revision is None:
        return None
    return RevisionData(revision.number, revision.spec, list(revision.manifests), str(rollout.idempotency_key))


def default_target_factory(deployment: Deployment, sleep: Callable[[float], None]) -> RolloutTarget:
    """Kubernetes through the stored (decrypted) credentials, or the local tritonserver."""
    if deployment.target == Deployment.Target.LOCAL:
        # The registry's local server (started on demand, like its own local serving), unless
        # DEPLOY_LOCAL_TRITON_URL points rollouts at a server someone else runs.
        override = getattr(settings, "DEPLOY_LOCAL_TRITON_URL", "")
        config = local_triton_config()
        return LocalTritonTarget(
            TritonAdmin(override or config.http_url, timeout_s=120.0),
            config.repository,
            LocalArtifactPolicy(deployment.tenant),
            sleep=sleep,
            config=None if override else config,
        )
    if deployment.cluster is None:
        raise TargetError("the deployment has no cluster")
    kube = kube_target_for(deployment.cluster)
    return KubernetesTarget(
        kube,
        deployment.namespace,
        deployment.name,
        poll_s=float(getattr(settings, "DEPLOY_KUBE_POLL_S", 2.0)),
        sleep=sleep,
    )


class _Runner:
    """Drives one claimed rollout to a terminal state. Not reused across rollouts."""

    def __init__(self, tenant: Tenant, rollout: Rollout, token: str, factory: TargetFactory) -> None:
        self.tenant, self.rollout, self.token, self.factory = tenant, rollout, token, factory
        self.state = rollout.state
        self.deployment = rollout.deployment
        self.revision = _revision_data(rollout.revision, rollout)
        self.previous = _revision_data(rollout.previous_revision, rollout)
        self.target: RolloutTarget | None = None

    # -- bookkeeping --
    def _scoped(self):  # type: ignore[no-untyped-def]
        return Rollout.objects.for_tenant(self.tenant).filter(pk=self.rollout.pk, claim_token=self.token)

    def renew(self) -> None:
        if (
            not self._scoped()
            .filter(state=self.state)
            .update(lease_expires_at=timezone.now() + dt.timedelta(seconds=_lease_s()))
        ):
            raise LostClaim()

    def sleep(self, seconds: float) -> None:
        self.renew()
        time.sleep(seconds)

    def move(self, state: str, message: str, **fields: Any) -> None:
        with transaction.atomic():
            now = timezone.now()
            updated = (
                self._scoped()
                .filter(state=self.state)
                .update(state=state, lease_expires_at=now + dt.timedelta(seconds=_lease_s()), updated_at=now, **fields)
            )
            if not updated:
                raise LostClaim()
            self.state = state
            _event(self.rollout, state, message)

    def remaining(self) -> float:
        return max(1.0, (self.rollout.deadline_at - timezone.now()).total_seconds())

    def finish(
        self, state: str, message: str, *, reason: str = "", live: RevisionData | None, deployment_status: str
    ) -> None:
        """Terminal transition + deployment status + audit, all or nothing."""
        with transaction.atomic():
            now = timezone.now()
            updated = (
                self._scoped()
                .filter(state=self.state)
                .update(state=state, reason=reason[:8000], finished_at=now, lease_expires_at=None, updated_at=now)
            )
            if not updated:
                raise LostClaim()
            self.state = state
            _event(self.rollout, state, message)
            live_rev = None
            if live is not None:
                live_rev = Revision.objects.for_tenant(self.tenant).get(deployment=self.deployment, number=live.number)
            Deployment.objects.for_tenant(self.tenant).filter(pk=self.deployment.pk).update(
                status=deployment_status, status_reason=reason[:8000], active_revision=live_rev, updated_at=now
            )
            actor = Actor.system(label="deploy worker", triggered_by_user_id=self.rollout.created_by_id)
            audit_record(
                tenant=self.tenant,
                actor=actor,
                action=f"deploy.rollout.{state}",
                target=self.rollout,
                changes={
                    "deployment": self.deployment.name,
                    "state": [None, state],
                    "revision": self.revision.number if self.revision else None,
                    "reason": reason[:2000],
                },
            )
            if state == S.ACTIVE and self.deployment.target == Deployment.Target.LOCAL:
                enqueue("deploy.measure", tenant_id=self.tenant.pk, deployment_id=self.deployment.pk)

    # -- the machine --
    def run(self, *, resume_rollback: bool = False, failure: str | None = None) -> None:
        assert self.revision is not None
        try:
            if failure is not None or resume_rollback:
                self.fail(failure or self.rollout.reason or "resumed an interrupted rollback", applied=True)
                return
            try:
                self.target = self.factory(self.deployment, self.sleep)
                version = self.target.check()
            except (TargetError, ClusterCredentialsInvalid) as exc:
                self.fail(f"cannot reach the target: {getattr(exc, 'message', exc)}", applied=False)
                return
            self.renew()
            _event(self.rollout, self.state, f"target reachable ({version})")
            try:
                message = self.target.apply(self.revision)
                _event(self.rollout, S.APPLYING, message)
                self.move(S.WAITING, f"waiting for revision {self.revision.number} to become ready")
                _event(self.rollout, S.WAITING, self.target.wait(self.revision, self.remaining()))
                self.move(S.VERIFYING, "verifying Triton server and model readiness")
                message = self.target.verify(self.revision)
            except TargetError as exc:
                self.fail(f"{self.state}: {exc.message}", applied=not isinstance(exc, TargetNothingApplied))
                return
            live_status = Deployment.Status.ACTIVE
            reason = (
                ""
                if self.rollout.kind == Rollout.Kind.ROLLOUT
                else f"manual rollback to revision {self.revision.number}"
            )
            self.finish(
                S.ACTIVE,
                f"revision {self.revision.number} is live: {message}",
                reason=reason,
                live=self.revision,
                deployment_status=live_status,
            )
        except LostClaim:
            logger.info("rollout %s: claim lost, another executor took over", self.rollout.pk)
        finally:
            if self.target is not None:
                self.target.close()

    def fail(self, reason: str, *, applied: bool) -> None:
        """Roll back to the previous revision (or remove what was applied), then finish."""
        prev = self.previous
        if not applied:
            # Nothing was applied: the previous revision (if any) is still live and untouched.
            status = Deployment.Status.FAILED if prev is None else Deployment.Status.ACTIVE
            self.finish(S.FAILED, f"failed: {reason}", reason=reason, live=prev, deployment_status=status)
            return
        if self.state != S.ROLLING_BACK:
            self.move(
                S.ROLLING_BACK,
                f"failed: {reason}; "
                + (f"rolling back to revision {prev.number}" if prev else "removing what was applied"),
                reason=reason,
            )
        try:
            if self.target is None:
                self.target = self.factory(self.deployment, self.sleep)
            assert self.revision is not None
            message = self.target.rollback(prev, self.revision, max(self.remaining(), ROLLBACK_MIN_S))
        except (TargetError, ClusterCredentialsInvalid) as exc:
            why = f"{reason}; the rollback failed too: {getattr(exc, 'message', exc)}"
            self.finish(S.FAILED, why, reason=why, live=None, deployment_status=Deployment.Status.FAILED)
            return
        if prev is None:
            why = f"{reason}; nothing was left applied"
            self.finish(S.FAILED, f"{message}", reason=why, live=None, deployment_status=Deployment.Status.FAILED)
            return
        why = f"rolled back to revision {prev.number}: {reason}"
        self.finish(S.ROLLED_BACK, message, reason=why, live=prev, deployment_status=Deployment.Status.ROLLED_BACK)


def _claim(tenant: Tenant, rollout_id: int) -> tuple[Rollout, str, bool] | None:
    """Claim a pending rollout, or re-claim one whose worker died (lease expired).

    Returns (rollout, token, resume_rollback) or None when there is nothing to do (terminal, or a
    live worker holds it)."""
    now = timezone.now()
    token = secrets.token_hex(16)
    lease = now + dt.timedelta(seconds=_lease_s())
    qs = Rollout.objects.for_tenant(tenant).filter(pk=rollout_id)
    row = qs.first()
    if row is None or row.state in Rollout.TERMINAL:
        return None
    if row.state == S.PENDING:
        claimed = qs.filter(state=S.PENDING).update(
            state=S.APPLYING, claim_token=token, claimed_at=now, lease_expires_at=lease, attempts=F("attempts") + 1
        )
        message = "claimed by a worker; applying"
        resume_rollback = False
    elif row.lease_expires_at is not None and row.lease_expires_at < now:
        resume_rollback = row.state == S.ROLLING_BACK
        new_state = S.ROLLING_BACK if resume_rollback else S.APPLYING
        claimed = qs.filter(state=row.state, claim_token=row.claim_token).update(
            state=new_state, claim_token=token, claimed_at=now, lease_expires_at=lease, attempts=F("attempts") + 1
        )
        message = f"previous worker lost in state {row.state}; " + (
            "continuing the rollback" if resume_rollback else "resuming from apply (idempotent)"
        )
    else:
        return None  # a live worker holds the lease
    if not claimed:
        return None
    row = (
        Rollout.objects.for_tenant(tenant)
        .select_related("deployment__cluster", "revision", "previous_revision", "deployment__tenant")
        .get(pk=rollout_id)
    )
    _event(row, row.state, message, attempt=row.attempts)
    return row, token, resume_rollback


def rollout_execute(*, tenant: Tenant, rollout_id: int, target_factory: TargetFactory | None = None) -> Rollout | None:
    """Run a rollout to a terminal state (the Celery task's body). Idempotent: a terminal or
    live-claimed rollout is left alone; returns the row as it ends up (None if it does not exist)."""
    claimed = _claim(tenant, rollout_id)
    if claimed is not None:
        rollout, token, resume_rollback = claimed
        _Runner(tenant, rollout, token, target_factory or default_target_factory).run(resume_rollback=resume_rollback)
    return Rollout.objects.for_tenant(tenant).filter(pk=rollout_id).first()


# ---- the sweep ---------------------------------------------------------------------------------


def rollout_sweep_stale(*, now: dt.datetime | None = None, target_factory: TargetFactory | None = None) -> list[int]:
    """Platform job: end every in-progress rollout past its deadline (all tenants).

    Each is claimed by a conditional update (so a still-running worker stops at its next step),
    then rolled back to its previous revision, or failed (nothing was applied / no previous).
    Pending rollouts within their deadline but older than the lease are re-enqueued (lost message),
    and so are started ones whose worker's lease expired (the worker died: resume, not roll back).
    Returns the ids it ended."""
    now = now or timezone.now()
    ended: list[int] = []
    stale = Rollout.objects.all_tenants().filter(state__in=Rollout.IN_PROGRESS, deadline_at__lt=now)
    for row in stale.select_related("tenant"):
        token = secrets.token_hex(16)
        was = row.state
        claimed = (
            Rollout.objects.all_tenants()
            .filter(pk=row.pk, state=was, claim_token=row.claim_token)
            .update(
                claim_token=token,
                claimed_at=now,
                lease_expires_at=now + dt.timedelta(seconds=_lease_s()),
                attempts=F("attempts") + 1,
            )
        )
        if not claimed:
            continue
        rollout = (
            Rollout.objects.for_tenant(row.tenant)
            .select_related("deployment__cluster", "deployment__tenant", "revision", "previous_revision")
            .get(pk=row.pk)
        )
        reason = (
            f"rollout passed its deadline ({rollout.deadline_at:%Y-%m-%d %H:%M:%S} UTC) in state {was}: "
            "the worker was lost or the target never became ready"
        )
        _event(rollout, was, f"sweep: {reason}")
        runner = _Runner(row.tenant, rollout, token, target_factory or default_target_factory)
        try:
            if was == S.PENDING:
                runner.fail(f"never started: {reason}", applied=False)
            else:
                runner.fail(reason, applied=True)
        except LostClaim:
            continue
        finally:
            if runner.target is not None:
                runner.target.close()
        ended.append(rollout.pk)
    lost_before = now - dt.timedelta(seconds=_lease_s())
    for row in Rollout.objects.all_tenants().filter(state=S.PENDING, deadline_at__gte=now, created_at__lt=lost_before):
        enqueue("deploy.rollout", tenant_id=row.tenant_id, rollout_id=row.pk)
    # A worker SIGKILLed mid-rollout leaves its rollout applying/waiting/verifying/rolling_back
    # with a lease nobody renews. Its unacknowledged message only comes back after the broker's
    # visibility timeout (1 h on Redis), and a copy redelivered sooner finds the lease still live
    # and does nothing; before this, such a rollout sat "in progress" until its deadline (15 min
    # by default) and was then rolled back although nothing had gone wrong on the target. Send
    # the task again once the lease expired: its claim takes over the expired lease and resumes
    # from apply (applies are idempotent) or continues the rollback. A duplicate is harmless: the
    # claim is a conditional update, so only one copy runs.
    orphaned = Rollout.objects.all_tenants().filter(
        state__in=Rollout.IN_PROGRESS, deadline_at__gte=now, lease_expires_at__lt=now
    )
    for row in orphaned.exclude(state=S.PENDING):
        logger.warning("rollout %s: its worker's lease expired in state %s; re-sending it", row.pk, row.state)
        enqueue("deploy.rollout", tenant_id=row.tenant_id, rollout_id=row.pk)
    return ended
