"""Training runs: queue, execute (claim -> load -> embed -> train -> save -> register), activate.

Status machine and invariants are in recommendations/models.py (TrainingRun). Execution is
idempotent: only the caller that flips ``queued -> running`` with a conditional UPDATE does the
work (a run left ``running`` by a dead worker for longer than STALE_RUNNING_S can be reclaimed);
every failure ends ``failed`` with a sentence in ``error``. A run whose worker died mid-way
(SIGKILL, OOM) is queued again once its message comes back, up to RECS_TRAIN_MAX_ATTEMPTS starts.

The registry owns version numbers and aliases: a finished run registers the tenant's
``recommender`` model version through ``models_registry.services.version_register`` (artifact
``storage:<prefix>``, the folder the run wrote) and activation moves its ``production`` alias
with ``alias_set``, both as a system actor carrying the user who asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from models_registry.backends import get_embedder
from models_registry.constants import storage_artifact_uri
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.selectors import model_get_writable_by_name
from models_registry.services import alias_set, model_create, version_register
from portal.celery import enqueue
from portal.exceptions import ApplicationError, Conflict
from recommendations import constants as C
from recommendations.engine import (
    EngineError,
    InteractionData,
    ItemMeta,
    TrainedModel,
    TrainParams,
    save_artifact,
    train,
)
from recommendations.engine.artifact import ARRAYS as ARRAYS_FILE
from recommendations.engine.artifact import META as META_FILE
from recommendations.models import CatalogItem, Event, TrainingRun
from recommendations.selectors import training_run_get_active
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record
from usage import meter

log = logging.getLogger(__name__)

STALE_RUNNING_S = 2 * 3600
# Training knobs a tenant may set per run (everything else uses the engine's defaults).
ALLOWED_PARAMS = {"content": bool, "use_ease": bool, "knn_neighbours": int, "max_history": int}
_PROGRESS: dict[str, float] = {
    TrainingRun.Stage.LOADING: 0.05,
    TrainingRun.Stage.EMBEDDING: 0.2,
    TrainingRun.Stage.TRAINING: 0.45,
    TrainingRun.Stage.SAVING: 0.85,
    TrainingRun.Stage.REGISTERING: 0.95,
}


def clean_params(params: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"content": True}
    for key, value in (params or {}).items():
        kind = ALLOWED_PARAMS.get(key)
        if kind is None:
            raise ApplicationError(f"Unknown training parameter '{key}'; allowed: {', '.join(sorted(ALLOWED_PARAMS))}.")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000):
            raise ApplicationError(f"Training parameter '{key}' must be an integer between 1 and 10000.")
        if kind is bool and not isinstance(value, bool):
            raise ApplicationError(f"Training parameter '{key}' must be true or false.")
        out[key] = value
    return out


def training_run_start(*, tenant: Tenant, actor: Actor, params: dict[str, Any] | None = None) -> TrainingRun:
    """Queue a training run (next version number) and enqueue the task on commit. Audited."""
    access_require(tenant=tenant, actor=actor, capability="recs.train")
    with transaction.atomic():
        cleaned = clean_params(params)
        # Lock the tenant row so two concurrent starts cannot pick the same version number.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        last = TrainingRun.objects.for_tenant(tenant).aggregate(v=Max("version"))["v"] or 0
        run = TrainingRun(tenant=tenant, version=last + 1, params=cleaned, requested_by=actor.user)
        run.full_clean()
        run.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="recommendations.trainingrun.queued",
            target=run,
            changes={"params": cleaned},
        )
        enqueue("recommendations.train", tenant_id=tenant.pk, run_id=run.pk)
        return run


def _set_stage(run: TrainingRun, stage: str) -> None:
    run.stage = stage
    run.progress = _PROGRESS.get(stage, run.progress)
    TrainingRun.objects.for_tenant(run.tenant).filter(pk=run.pk).update(stage=stage, progress=run.progress)


def _claim(tenant: Tenant, run_id: int) -> bool:
    stale = timezone.now() - dt.timedelta(seconds=STALE_RUNNING_S)
    claimable = Q(status=TrainingRun.Status.QUEUED) | Q(status=TrainingRun.Status.RUNNING, started_at__lt=stale)
    return bool(
        TrainingRun.objects.for_tenant(tenant)
        .filter(claimable, pk=run_id)
        .update(
            status=TrainingRun.Status.RUNNING,
            stage=TrainingRun.Stage.LOADING,
            progress=0.05,
            started_at=timezone.now(),
            error="",
            attempts=F("attempts") + 1,
        )
    )


def build_interaction_data(*, tenant: Tenant) -> tuple[InteractionData, dict[str, CatalogItem]]:
    """The tenant's whole catalog and event log as engine input (two queries, streamed)."""
    items: dict[int, CatalogItem] = {
        it.pk: it
        for it in CatalogItem.objects.for_tenant(tenant).only(
            "id", "external_id", "title", "description", "category", "tags"
        )
    }
    metas = [
        ItemMeta(
            it.external_id,
            title=it.title,
            category=it.category,
            tags=tuple(str(t) for t in it.tags or ()),
            text=it.description,
        )
        for it in items.values()
    ]
    users: list[str] = []
    keys: list[str] = []
    types: list[str] = []
    values: list[float] = []
    stamps: list[float] = []
    rows = Event.objects.for_tenant(tenant).values_list("user_id", "item_id", "type", "value", "timestamp")
    for user, item_id, etype, value, ts in rows.order_by().iterator(chunk_size=20_000):
        users.append(user)
        keys.append(items[item_id].external_id)
        types.append(etype)
        values.append(np.nan if value is None else value)
        stamps.append(ts.timestamp())
    data = InteractionData.from_arrays(
        user_keys=np.asarray(users, dtype=str),
        item_keys=np.asarray(keys, dtype=str),
        event_types=np.asarray(types, dtype=str),
        values=np.asarray(values, dtype=np.float64),
        timestamps=np.asarray(stamps, dtype=np.float64),
        items=metas,
    )
    return data, {it.external_id: it for it in items.values()}


def _store_artifact(model: TrainedModel, prefix: str) -> None:
    """Save via the engine to a temp dir, then copy both files into Django storage under ``prefix``."""
    tmp = Path(tempfile.mkdtemp(prefix="recs-artifact-"))
    try:
        local = save_artifact(model, tmp / "artifact")
        for name in (ARRAYS_FILE, META_FILE):
            target = f"{prefix}/{name}"
            if default_storage.exists(target):  # left by a dead worker's attempt at this run
                default_storage.delete(target)
            with (local / name).open("rb") as fh:
                saved = default_storage.save(target, File(fh, name=name))
            if saved != target:
                raise ApplicationError(f"Storage renamed the artifact file to {saved}.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def training_run_execute(*, tenant: Tenant, run_id: int) -> None:
    """Do the work of one queued run; a no-op when the run was already claimed or finished."""
    if not _claim(tenant, run_id):
        log.info("training run %s not claimable (already running or finished)", run_id)
        return
    run = TrainingRun.objects.for_tenant(tenant).select_related("requested_by").get(pk=run_id)
    try:
        data, _ = build_interaction_data(tenant=tenant)
        if data.n_events == 0:
            raise ApplicationError("No events to train on: send events to POST /api/v1/events/ first.")
        embeddings = None
        if run.params.get("content", True):
            _set_stage(run, TrainingRun.Stage.EMBEDDING)
            embeddings = get_embedder().embed(data.content_texts())
        _set_stage(run, TrainingRun.Stage.TRAINING)
        engine_params = {k: v for k, v in run.params.items() if k != "content"}
        model = train(data, TrainParams(**engine_params), embeddings=embeddings)
        _set_stage(run, TrainingRun.Stage.SAVING)
        prefix = f"{C.ARTIFACT_PREFIX}/tenant-{tenant.pk}/run-{run.pk}-v{run.version}"
        _store_artifact(model, prefix)
        _set_stage(run, TrainingRun.Stage.REGISTERING)
        _finish(tenant=tenant, run=run, model=model, prefix=prefix)
    except Exception as exc:  # every failure path ends FAILED with a reason
        if isinstance(exc, ApplicationError):
            reason = exc.message
        elif isinstance(exc, EngineError):
            reason = f"Training failed: {exc}."
        else:
            log.exception("training run %s crashed", run_id)
            reason = f"Training crashed: {type(exc).__name__}: {exc}"
        _fail(tenant=tenant, run=run, reason=reason)


def worker_lost_reason(attempts: int) -> str:
    times = "once" if attempts == 1 else f"{attempts} times"
    return (
        f"The worker running this training stopped {times} before it finished (killed, or out of "
        "memory); nothing was registered. Start a new run."
    )


def _stale_reason() -> str:
    return (
        f"Training did not finish within {STALE_RUNNING_S // 60} minutes (its worker stopped or it ran "
        "too long); nothing was registered. Start a new run."
    )


def training_run_worker_lost(*, tenant: Tenant, run_id: int) -> bool:
    """A redelivered message found its run ``running``: the worker that claimed it died before
    acknowledging it (acks_late + reject_on_worker_lost). A worker dying is usually the worker's
    trouble (a deploy, a node drained, a neighbour's memory), so the run goes back to ``queued``
    for the caller to train again, audited; once it has been started RECS_TRAIN_MAX_ATTEMPTS
    times it ends FAILED with the reason instead (a run that kills every worker it meets must not
    take the queue down with it). True if it changed. Conditional on ``running``: a queued or
    finished run is left alone."""
    run = TrainingRun.objects.for_tenant(tenant).filter(pk=run_id, status=TrainingRun.Status.RUNNING).first()
    if run is None:
        return False
    if run.attempts >= settings.RECS_TRAIN_MAX_ATTEMPTS:
        return _fail(tenant=tenant, run=run, reason=worker_lost_reason(run.attempts), only_if_running=True)
    return _requeue(tenant=tenant, run=run, reason=worker_lost_reason(run.attempts))


@transaction.atomic
def _requeue(*, tenant: Tenant, run: TrainingRun, reason: str) -> bool:
    rows = TrainingRun.objects.for_tenant(tenant).filter(pk=run.pk, status=TrainingRun.Status.RUNNING)
    if not rows.update(status=TrainingRun.Status.QUEUED, stage=TrainingRun.Stage.QUEUED, progress=0.0):
        return False
    _audit_system(tenant, run, "requeued", {"reason": reason[:500], "attempts": run.attempts})
    log.warning("training run %s: worker lost after %s start(s); queued again", run.pk, run.attempts)
    return True


def training_runs_sweep_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Platform sweep (beat): every run ``running`` for longer than STALE_RUNNING_S ends FAILED
    with a reason, so no run stays ``running`` even when its message was lost with the worker."""
    now = now or timezone.now()
    stale = (
        TrainingRun.objects.all_tenants()
        .filter(status=TrainingRun.Status.RUNNING, started_at__lt=now - dt.timedelta(seconds=STALE_RUNNING_S))
        .select_related("tenant")
    )
    failed = [
        run.pk for run in stale if _fail(tenant=run.tenant, run=run, reason=_stale_reason(), only_if_running=True)
    ]
    if failed:
        log.warning("training sweep: failed stale runs %s", failed)
    return failed


@transaction.atomic
def _fail(*, tenant: Tenant, run: TrainingRun, reason: str, only_if_running: bool = False) -> bool:
    rows = TrainingRun.objects.for_tenant(tenant).filter(pk=run.pk)
    if only_if_running:
        rows = rows.filter(status=TrainingRun.Status.RUNNING)
    if not rows.update(status=TrainingRun.Status.FAILED, error=reason[:2000], finished_at=timezone.now()):
        return False
    _audit_system(tenant, run, "failed", {"error": reason[:500]})
    return True


def _audit_system(tenant: Tenant, run: TrainingRun, verb: str, changes: dict[str, Any]) -> None:
    """Audit a change the training machinery made on its own, naming who asked for the run."""
    audit_record(
        tenant=tenant,
        actor=Actor.system(label="recommendations.train", triggered_by_user_id=run.requested_by_id),
        action=f"recommendations.trainingrun.{verb}",
        target=run,
        changes=changes,
    )


def _registry_model(*, tenant: Tenant, actor: Actor) -> RegisteredModel:
    """The tenant's ``recommender`` model in the registry, created on first use."""
    registered = model_get_writable_by_name(tenant=tenant, name=C.REGISTRY_MODEL_NAME)
    if registered is not None:
        return registered
    try:
        return model_create(
            tenant=tenant,
            actor=actor,
            name=C.REGISTRY_MODEL_NAME,
            task=RegisteredModel.Task.RECOMMENDATION,
            description="Hybrid recommender (recommendations app)",
        )
    except (Conflict, IntegrityError):  # created by a concurrent run (or a person) meanwhile
        registered = model_get_writable_by_name(tenant=tenant, name=C.REGISTRY_MODEL_NAME)
        if registered is None:
            raise
        return registered


@transaction.atomic
def _finish(*, tenant: Tenant, run: TrainingRun, model: TrainedModel, prefix: str) -> None:
    actor = Actor.system(label="recommendations.train", triggered_by_user_id=run.requested_by_id)
    version = version_register(
        tenant=tenant,
        actor=actor,
        model=_registry_model(tenant=tenant, actor=actor),
        backend=ModelVersion.Backend.PYTHON,
        task=RegisteredModel.Task.RECOMMENDATION,
        inputs=[],
        outputs=[],
        artifact_uri=storage_artifact_uri(prefix),
        parameters=model.params,
        metrics=model.metrics,
        source_run=f"recommendations.trainingrun:{run.pk}",
        dataset_hash=model.data_hash,
    )
    run.status = TrainingRun.Status.READY
    run.stage = TrainingRun.Stage.DONE
    run.progress = 1.0
    run.metrics = {**model.metrics, "timing": model.timing}
    run.stats = model.stats
    run.data_hash = model.data_hash
    run.artifact_path = prefix
    run.model_version = version
    run.finished_at = timezone.now()
    run.save(
        update_fields=[
            "status",
            "stage",
            "progress",
            "metrics",
            "stats",
            "data_hash",
            "artifact_path",
            "model_version",
            "finished_at",
            "updated_at",
        ]
    )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="recommendations.trainingrun.completed",
        target=run,
        changes={"model_version": str(version), "data_hash": model.data_hash, "stats": model.stats},
    )
    meter.record(
        tenant.pk,
        "training",
        model=f"recommender-v{run.version}",
        runs=1,
        # Whole seconds, rounded up: a run that finished in under a second still ran.
        seconds=math.ceil((run.finished_at - run.started_at).total_seconds()) if run.started_at else 0,
    )
    if training_run_get_active(tenant=tenant) is None:
        # The first ready model serves right away; later ones wait for an explicit activation.
        _activate(tenant=tenant, actor=actor, run=run, previous=None)


def _activate(*, tenant: Tenant, actor: Actor, run: TrainingRun, previous: TrainingRun | None) -> None:
    TrainingRun.objects.for_tenant(tenant).filter(is_active=True).update(is_active=False)
    TrainingRun.objects.for_tenant(tenant).filter(pk=run.pk).update(is_active=True)
    run.is_active = True
    mv = run.model_version
    if mv is not None:
        # The user's recs.train was checked by the caller; moving the registry alias is the
        # platform's bookkeeping of that decision, not a separate models.promote by the user.
        alias_set(
            tenant=tenant,
            actor=Actor.system(label="recommendations.activate", triggered_by_user_id=actor.user_id),
            model=mv.model,
            name="production",
            version=mv,
        )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="recommendations.trainingrun.activated",
        target=run,
        changes={"active_version": [previous.version if previous else None, run.version]},
    )


def training_run_activate(*, tenant: Tenant, actor: Actor, run: TrainingRun) -> TrainingRun:
    """Make ``run`` the version served to this tenant (ready runs only). Audited; idempotent."""
    access_require(tenant=tenant, actor=actor, capability="recs.train", target=run)
    with transaction.atomic():
        run = (
            TrainingRun.objects.for_tenant(tenant)
            .select_for_update(of=("self",))
            .select_related("model_version__model")
            .get(pk=run.pk)
        )
        if run.status != TrainingRun.Status.READY:
            raise Conflict(f"Recommender v{run.version} is {run.status}; only a ready version can be activated.")
        if run.is_active:
            return run
        previous = training_run_get_active(tenant=tenant)
        _activate(tenant=tenant, actor=actor, run=run, previous=previous)
        return run
