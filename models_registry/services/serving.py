"""Local serving on the portal's tritonserver: requests (API) and load/unload (task bodies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inference.triton.client import TritonAdmin
from inference.triton.local import (
    ArtifactError,
    LocalTritonConfig,
    artifact_files,
    load_version,
    local_server_ensure,
    unload_model,
)
from inference.triton.repository import InvalidModelConfig
from inference.triton.server import TritonStartError
from inference.triton.specs import default_artifact_name
from models_registry.constants import STORAGE_URI_PREFIX
from models_registry.models import LocalServing, ModelVersion, RegistryQuerySet
from models_registry.services.checks import check_model_owner
from models_registry.triton_specs import spec_for_version, version_triton_name
from portal.celery import enqueue
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


def serving_request(*, tenant: Tenant | None, actor: Actor, version: ModelVersion) -> LocalServing:
    """Ask for ``version`` to be loaded on the local Triton (status LOADING; task enqueued)."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=version)
    check_model_owner(tenant, version.model)
    if version.artifact_uri.startswith(STORAGE_URI_PREFIX):
        raise ApplicationError(
            f"{version} is served in-process by the portal app that stored it; Triton cannot load it."
        )
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
        files = artifact_files(
            artifact_path=Path(version.artifact.path) if version.artifact else None,
            artifact_uri=version.artifact_uri,
            artifact_name=version.artifact_name or default_artifact_name(version.backend),
        )
    except (InvalidModelConfig, ArtifactError) as exc:
        return _finish(
            row.pk,
            status=LocalServing.Status.FAILED,
            error=str(exc),
            actor=actor,
            action="models_registry.serving.failed",
        )
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
        outcome = load_version(admin, repository=config.repository, spec=spec, version=version.version, files=files)
    finally:
        admin.close()
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
