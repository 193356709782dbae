"""Local serving on the portal's tritonserver: requests (API) and load/unload (task bodies)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inference.triton.client import TritonAdmin, TritonError
from inference.triton.local import (
    ArtifactError,
    LocalTritonConfig,
    StagedArtifact,
    load_version,
    local_server_ensure,
    unload_model,
)
from inference.triton.repository import InvalidModelConfig
from inference.triton.server import TritonStartError
from inference.triton.specs import default_artifact_name
from models_registry.artifacts import artifact_uri_check
from models_registry.constants import STORAGE_URI_PREFIX
from models_registry.models import LocalServing, ModelVersion, RegistryQuerySet
from models_registry.services.checks import check_model_owner
from models_registry.triton_specs import spec_for_version, version_triton_name
from models_registry.trust import (
    FORBIDDEN_PARAMETERS,
    LocalArtifactPolicy,
    approval_require,
    needs_approval,
    serving_limits_check,
)
from portal.celery import enqueue
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


def _serving_admissible(tenant: Tenant | None, version: ModelVersion) -> None:
    """What can be refused before the task runs (the task checks all of it again on the copy).

    400: knobs beyond the shared server's limits, a reserved parameter, a URI outside the allowed
    locations. 409: an executable artifact whose digest is known and not approved (uploads; a
    URI's digest is known only once the task copied it, and the task refuses it then).
    """
    tenant_id = tenant.pk if tenant is not None else None
    serving_limits_check(tenant_id=tenant_id, max_batch_size=version.max_batch_size, serving=version.serving)
    reserved = sorted(FORBIDDEN_PARAMETERS & set(version.parameters or {}))
    if reserved and tenant is not None:
        raise ApplicationError(f"parameters: {', '.join(reserved)} is reserved to the platform.")
    if not version.artifact and version.artifact_uri:
        artifact_uri_check(version.artifact_uri, tenant_slug=tenant.slug if tenant is not None else None)
    uri = "" if version.artifact else version.artifact_uri
    if (
        tenant is not None
        and version.artifact_sha256
        and needs_approval(tenant_id=tenant_id, backend=version.backend, artifact_uri=uri)
    ):
        approval_require(
            tenant=tenant,
            backend=version.backend,
            sha256=version.artifact_sha256,
            size=version.artifact_size,
            version=version,
        )


def serving_request(*, tenant: Tenant | None, actor: Actor, version: ModelVersion) -> LocalServing:
    """Ask for ``version`` to be loaded on the local Triton (status LOADING; task enqueued).

    Refused before anything is queued when the shared server's rules already say no (see
    ``_serving_admissible``: 400 limits and locations, 409 awaiting platform approval)."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=version)
    check_model_owner(tenant, version.model)
    if version.artifact_uri.startswith(STORAGE_URI_PREFIX):
        raise ApplicationError(
            f"{version} is served in-process by the portal app that stored it; Triton cannot load it."
        )
    _serving_admissible(tenant, version)
    with transaction.atomic():
        row, created = (
            LocalServing.objects.all_tenants()
            .select_for_update()
            .get_or_create(version=version, defaults={"tenant": tenant, "triton_name": version_triton_name(version)})
        )
        before = None if created else row.status
        row.status = LocalServing.Status.LOADING
        row.error = ""
        row.requested_by = actor.user if actor.user is not None and actor.user.pk else None
        row.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.serving.requested",
            target=row,
            changes={"status": [before, row.status], "version": version.version},
        )
        enqueue(
            "models_registry.serve",
            tenant_id=row.tenant_id,
            serving_id=row.pk,
            triggered_by_user_id=actor.user_id,
        )
    return row


def serving_unload_request(*, tenant: Tenant | None, actor: Actor, serving: LocalServing) -> LocalServing:
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=serving)
    check_model_owner(tenant, serving.version.model)
    with transaction.atomic():
        before = serving.status
        LocalServing.objects.all_tenants().filter(pk=serving.pk).update(
            status=LocalServing.Status.UNLOADING, updated_at=timezone.now()
        )
        serving.refresh_from_db()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.serving.unload_requested",
            target=serving,
            changes={"status": [before, serving.status]},
        )
        enqueue(
            "models_registry.unserve",
            tenant_id=serving.tenant_id,
            serving_id=serving.pk,
            triggered_by_user_id=actor.user_id,
        )
    return serving


def _finish(row_id: int, *, status: str, error: str = "", actor: Actor, action: str, **extra: Any) -> LocalServing:
    with transaction.atomic():
        row = (
            LocalServing.objects.all_tenants()
            .select_for_update()
            .select_related("version", "version__model")
            .get(pk=row_id)
        )
        before = row.status
        row.status = status
        row.error = error[:5000]
        if status == LocalServing.Status.READY:
            row.ready_at = timezone.now()
        row.save()
        version = row.version
        if status in (LocalServing.Status.READY, LocalServing.Status.FAILED):
            version.status = (
                ModelVersion.Status.READY if status == LocalServing.Status.READY else ModelVersion.Status.FAILED
            )
            version.error = row.error
            version.save(update_fields=["status", "error"])
        audit_record(
            tenant=row.tenant,
            actor=actor,
            action=action,
            target=row,
            changes={"status": [before, status], "error": row.error, **extra},
        )
    return row


def _serving_rows(tenant: Tenant | None) -> RegistryQuerySet:
    """LocalServing rows of ``tenant``, or the platform-shared ones (tenant None)."""
    qs = LocalServing.objects
    return qs.for_tenant(tenant) if tenant is not None else qs.all_tenants().filter(tenant__isnull=True)


def _upload_path(version: ModelVersion) -> str:
    if not version.artifact:
        return ""
    try:
        return str(version.artifact.path)
    except NotImplementedError:  # remote storage (S3): not a file this machine can copy
        raise ArtifactError(
            "the uploaded artifact is in remote storage; the local Triton target serves artifacts on this machine"
        ) from None


def _record_digest(tenant: Tenant | None, version: ModelVersion, art: StagedArtifact, *, actor: Actor) -> None:
    """A URI artifact's digest is first known here (registration never reads the server's files);
    record it once, so that a later change of the bytes behind the URI is noticed and refused."""
    if version.artifact_sha256:
        return
    with transaction.atomic():
        updated = (
            ModelVersion.objects.all_tenants()
            .filter(pk=version.pk, artifact_sha256="")
            .update(artifact_sha256=art.sha256, artifact_size=art.size)
        )
        if updated:
            audit_record(
                tenant=tenant,
                actor=actor,
                action="models_registry.version.digest_recorded",
                target=version,
                changes={"artifact_sha256": [None, art.sha256], "artifact_size": [None, art.size]},
            )
    version.artifact_sha256, version.artifact_size = art.sha256, art.size


def serving_load(
    *, tenant: Tenant | None, serving_id: int, config: LocalTritonConfig, triggered_by_user_id: int | None = None
) -> LocalServing:
    """Task body: claim a LOADING row, make sure the server runs, write the entry, load, check.

    Terminal states: READY, or FAILED with the reason (Triton's own message when Triton refused
    the model). Raises TritonUnavailable/TritonStartError-free: an unreachable server after start
    is transient and raised as TritonUnavailable for the task to retry.
    """
    actor = Actor.system(label="models_registry.serve", triggered_by_user_id=triggered_by_user_id)
    claimed = (
        _serving_rows(tenant)
        .filter(pk=serving_id, status=LocalServing.Status.LOADING)
        .update(attempts=F("attempts") + 1, updated_at=timezone.now())
    )
    row = _serving_rows(tenant).select_related("version", "version__model", "version__model__tenant").get(pk=serving_id)
    if not claimed:
        return row  # unloaded or re-requested meanwhile: nothing to do
    version = row.version
    try:
        spec = spec_for_version(version, triton_name=row.triton_name)
        with LocalArtifactPolicy(tenant).staged(
            backend=version.backend,
            artifact_name=version.artifact_name or default_artifact_name(version.backend),
            within=config.repository,
            upload_path=_upload_path(version),
            artifact_uri=version.artifact_uri,
            recorded_sha256=version.artifact_sha256,
            parameters=version.parameters,
            max_batch_size=version.max_batch_size,
            serving=version.serving,
            version=version,
            on_digest=lambda art: _record_digest(tenant, version, art, actor=actor),
        ) as art:
            try:
                admin = local_server_ensure(config)
            except TritonStartError as exc:
                return _finish(
                    row.pk,
                    status=LocalServing.Status.FAILED,
                    error=f"tritonserver did not start: {exc}",
                    actor=actor,
                    action="models_registry.serving.failed",
                )
            try:
                outcome = load_version(
                    admin, repository=config.repository, spec=spec, version=version.version, files=art.files
                )
            finally:
                admin.close()
    except (InvalidModelConfig, ArtifactError) as exc:
        return _finish(
            row.pk,
            status=LocalServing.Status.FAILED,
            error=str(exc),
            actor=actor,
            action="models_registry.serving.failed",
        )
    if not outcome.ok:
        return _finish(
            row.pk,
            status=LocalServing.Status.FAILED,
            error=outcome.reason,
            actor=actor,
            action="models_registry.serving.failed",
        )
    # One version per Triton model: the specific version policy just replaced any other one.
    replaced = (
        LocalServing.objects.all_tenants()
        .filter(version__model=version.model, status__in=[LocalServing.Status.READY, LocalServing.Status.LOADING])
        .exclude(pk=row.pk)
        .update(
            status=LocalServing.Status.UNLOADED,
            error=f"replaced by version {version.version}",
            updated_at=timezone.now(),
        )
    )
    return _finish(
        row.pk, status=LocalServing.Status.READY, actor=actor, action="models_registry.serving.ready", replaced=replaced
    )


def serving_fail(
    *, tenant: Tenant | None, serving_id: int, error: str, triggered_by_user_id: int | None = None
) -> LocalServing:
    """Terminal FAILED for a row whose task gave up (e.g. Triton unreachable after all retries)."""
    _serving_rows(tenant).get(pk=serving_id)  # the row must belong to ``tenant``
    actor = Actor.system(label="models_registry.serve", triggered_by_user_id=triggered_by_user_id)
    return _finish(
        serving_id, status=LocalServing.Status.FAILED, error=error, actor=actor, action="models_registry.serving.failed"
    )


def serving_unload(
    *, tenant: Tenant | None, serving_id: int, config: LocalTritonConfig, triggered_by_user_id: int | None = None
) -> LocalServing:
    """Task body: claim an UNLOADING row, unload its Triton model, mark it UNLOADED."""
    actor = Actor.system(label="models_registry.unserve", triggered_by_user_id=triggered_by_user_id)
    row = _serving_rows(tenant).get(pk=serving_id)
    if row.status != LocalServing.Status.UNLOADING:
        return row
    admin = TritonAdmin(config.http_url)
    try:
        unload_model(admin, row.triton_name)
    finally:
        admin.close()
    return _finish(row.pk, status=LocalServing.Status.UNLOADED, actor=actor, action="models_registry.serving.unloaded")


def serving_reconcile(*, config: LocalTritonConfig) -> list[int]:
    """Platform sweep: every READY row whose model the local tritonserver no longer serves
    (the server was killed, crashed or restarted) goes back to LOADING with the reason, and its
    load task is queued; the task starts the server again if nothing answers, so serving comes
    back with no manual step. Returns the ids of the rows it re-queued.

    Conditional on the row still being READY, so a row unloaded or re-requested meanwhile is
    left alone, and running the sweep twice queues nothing more.
    """
    ready_rows = LocalServing.objects.all_tenants().filter(status=LocalServing.Status.READY)
    if not ready_rows.exists():
        return []
    admin = TritonAdmin(config.http_url, timeout_s=5.0)
    try:
        if admin.server_ready():
            try:
                served = {m.name for m in admin.repository_index() if m.state == "READY"}
            except TritonError:
                return []  # it answered ready a moment ago: look again next time
            why = "the local tritonserver restarted and no longer has this model loaded"
        else:
            served, why = set(), "the local tritonserver stopped answering"
    finally:
        admin.close()
    actor = Actor.system(label="models_registry.reconcile")
    requeued: list[int] = []
    for row in ready_rows.exclude(triton_name__in=served).select_related("tenant"):
        error = f"{why}; reloading it automatically"
        with transaction.atomic():
            n = (
                LocalServing.objects.all_tenants()
                .filter(pk=row.pk, status=LocalServing.Status.READY)
                .update(status=LocalServing.Status.LOADING, error=error, updated_at=timezone.now())
            )
            if not n:
                continue
            audit_record(
                tenant=row.tenant,
                actor=actor,
                action="models_registry.serving.lost",
                target=row,
                changes={"status": [LocalServing.Status.READY, LocalServing.Status.LOADING], "error": error},
            )
            enqueue("models_registry.serve", tenant_id=row.tenant_id, serving_id=row.pk)
        requeued.append(row.pk)
    return requeued
