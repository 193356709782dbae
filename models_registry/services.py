"""Write paths of the registry and of local serving. Each service: access_require() first (its refusal
is audited in its own transaction), then one transaction that validates, writes, audits with
audit_record, and enqueues work with delay_on_commit.

Tenant-facing services take a model resolved through `model_get_writable`, so platform-shared
models (tenant=None) cannot be changed by tenants. Platform code (ensure_builtin_models) passes
`tenant=None` with a system actor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Max
from django.utils import timezone

from inference.triton.client import TritonAdmin
from inference.triton.local import (
    BUILTIN_ARTIFACTS,
    ArtifactError,
    LocalTritonConfig,
    artifact_digest,
    artifact_files,
    load_version,
    local_path_for_uri,
    local_server_ensure,
    unload_model,
)
from inference.triton.repository import InvalidModelConfig
from inference.triton.server import TritonStartError
from inference.triton.specs import default_artifact_name, normalize_serving, version_spec
from models_registry.constants import ALIAS_CAPABILITY_DEFAULT, PROMOTE_ALIASES
from models_registry.models import LocalServing, ModelAlias, ModelVersion, RegisteredModel
from models_registry.triton_specs import spec_for_version, triton_name_for, version_triton_name
from portal.celery import enqueue
from portal.exceptions import ApplicationError, Conflict, PayloadTooLarge
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

MAX_ARTIFACT_BYTES = 2 * 1024**3
_REGISTER_ATTEMPTS = 8


def _check_owner(tenant: Tenant | None, model: RegisteredModel) -> None:
    # Defence in depth: views resolve models with model_get_writable already.
    if model.tenant_id != (tenant.pk if tenant else None):
        raise ApplicationError("This model belongs to another owner and cannot be changed here.")


def _invalid(exc: InvalidModelConfig) -> ApplicationError:
    return ApplicationError(f"Invalid Triton model spec: {exc.message}", extra={"code": "invalid_model_spec"})


# -- models ---------------------------------------------------------------------------------------


def model_create(
    *, tenant: Tenant | None, actor: Actor, name: str, task: str, description: str = ""
) -> RegisteredModel:
    access_require(tenant=tenant, actor=actor, capability="models.write")
    with transaction.atomic():
        qs = RegisteredModel.objects.for_tenant(tenant) if tenant else RegisteredModel.objects.all_tenants()
        if qs.filter(tenant=tenant, name=name).exists():
            raise Conflict(f"A model named '{name}' already exists.")
        model = RegisteredModel(
            tenant=tenant,
            name=name,
            task=task,
            description=description,
            created_by=actor.user if actor.user is not None else None,
        )
        model.full_clean(validate_constraints=False)
        model.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.model.created",
            target=model,
            changes={"name": [None, name], "task": [None, task]},
        )
    return model


def model_update(*, tenant: Tenant | None, actor: Actor, model: RegisteredModel, description: str) -> RegisteredModel:
    access_require(tenant=tenant, actor=actor, capability="models.write", target=model)
    _check_owner(tenant, model)
    with transaction.atomic():
        before = model.description
        model.description = description
        model.full_clean(validate_constraints=False)
        model.save(update_fields=["description", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.model.updated",
            target=model,
            changes={"description": [before, description]},
        )
    return model


# -- versions -------------------------------------------------------------------------------------


def _digest_upload(upload: UploadedFile) -> tuple[int, str]:
    import hashlib

    h = hashlib.sha256()
    size = 0
    for chunk in upload.chunks():
        h.update(chunk)
        size += len(chunk)
        if size > MAX_ARTIFACT_BYTES:
            raise PayloadTooLarge(f"The artifact is larger than {MAX_ARTIFACT_BYTES} bytes.")
    upload.seek(0)
    return size, h.hexdigest()


def _digest_uri(uri: str) -> tuple[int | None, str]:
    """Size and sha256 of a local or built-in artifact; (None, "") for remote URIs."""
    if uri.startswith("builtin:"):
        files = BUILTIN_ARTIFACTS.get(uri.removeprefix("builtin:"))
        if files is None:
            raise ApplicationError(
                f"Unknown built-in model '{uri}'. Known: "
                + ", ".join(f"builtin:{n}" for n in sorted(BUILTIN_ARTIFACTS))
            )
        (builtin_path,) = files.values()
        return artifact_digest(builtin_path)
    path = local_path_for_uri(uri)
    if path is None:
        return None, ""
    try:
        return artifact_digest(path)
    except ArtifactError:
        raise ApplicationError(f"The artifact path {path} does not exist on the server.") from None


def _next_version(model: RegisteredModel) -> int:
    # Taking the model row's write lock first serialises registrations per model: on PostgreSQL
    # the UPDATE row-locks it (like SELECT ... FOR UPDATE); on SQLite it takes the database write
    # lock before any read, so two writers cannot both read the same MAX(version).
    RegisteredModel.objects.all_tenants().filter(pk=model.pk).update(updated_at=timezone.now())
    agg = ModelVersion.objects.all_tenants().filter(model=model).aggregate(m=Max("version"))
    return int(agg["m"] or 0) + 1


def version_register(
    *,
    tenant: Tenant | None,
    actor: Actor,
    model: RegisteredModel,
    backend: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    max_batch_size: int = 0,
    task: str = "",
    artifact_file: UploadedFile | None = None,
    artifact_uri: str = "",
    artifact_name: str = "",
    parameters: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    serving: dict[str, Any] | None = None,
    source_run: str = "",
    dataset_hash: str = "",
) -> ModelVersion:
    """Register the next version of ``model``: number = max + 1 under the model's row lock.

    Raises ApplicationError (400) for a spec Triton would reject (validated by rendering the
    config exactly as the local target will) or an artifact problem; the artifact's size and
    sha256 are computed here, never taken from the client.
    """
    access_require(tenant=tenant, actor=actor, capability="models.write", target=model)
    _check_owner(tenant, model)
    if bool(artifact_file) == bool(artifact_uri):
        raise ApplicationError("Give exactly one of an uploaded artifact file or an artifact_uri.")
    try:
        clean_serving = normalize_serving(serving)
        version_spec(
            triton_name=triton_name_for(model_name=model.name, tenant_slug=tenant.slug if tenant else None),
            backend=backend,
            max_batch_size=max_batch_size,
            inputs=inputs,
            outputs=outputs,
            parameters=parameters,
            serving=clean_serving,
            version=1,
        )
    except InvalidModelConfig as exc:
        raise _invalid(exc) from None
    size: int | None
    if artifact_file is not None:
        size, sha = _digest_upload(artifact_file)
    else:
        size, sha = _digest_uri(artifact_uri)
    name = artifact_name or default_artifact_name(backend)
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ApplicationError("artifact_name must be a plain file name such as model.py.")

    for attempt in range(_REGISTER_ATTEMPTS):
        try:
            with transaction.atomic():
                number = _next_version(model)
                version = ModelVersion(
                    tenant=tenant,
                    model=model,
                    version=number,
                    task=task or model.task,
                    backend=backend,
                    artifact_uri=artifact_uri,
                    artifact_size=size,
                    artifact_sha256=sha,
                    artifact_name=name,
                    inputs=inputs,
                    outputs=outputs,
                    max_batch_size=max_batch_size,
                    parameters=parameters or {},
                    metrics=metrics or {},
                    serving=clean_serving,
                    source_run=source_run,
                    dataset_hash=dataset_hash,
                    created_by=actor.user if actor.user is not None else None,
                )
                if artifact_file is not None:
                    version.artifact.save(artifact_file.name or name, artifact_file, save=False)
                version.full_clean(validate_constraints=False)
                version.save()
                audit_record(
                    tenant=tenant,
                    actor=actor,
                    action="models_registry.version.registered",
                    target=version,
                    changes={
                        "version": [None, number],
                        "backend": [None, backend],
                        "artifact_sha256": [None, sha],
                        "artifact_size": [None, size],
                        "artifact_uri": [None, artifact_uri],
                        "source_run": [None, source_run],
                        "dataset_hash": [None, dataset_hash],
                    },
                )
            return version
        except (IntegrityError, OperationalError) as exc:
            # Only SQLite's shared-cache test database can still race here ("table is locked");
            # the unique (model, version) constraint guarantees no duplicate ever commits.
            if isinstance(exc, OperationalError) and "locked" not in str(exc):
                raise
            if attempt == _REGISTER_ATTEMPTS - 1:
                raise Conflict("Another version was being registered at the same time; try again.") from exc
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


# -- aliases --------------------------------------------------------------------------------------


def alias_capability(name: str) -> str:
    return "models.promote" if name in PROMOTE_ALIASES else ALIAS_CAPABILITY_DEFAULT


def alias_set(
    *, tenant: Tenant | None, actor: Actor, model: RegisteredModel, name: str, version: ModelVersion
) -> ModelAlias:
    """Point alias ``name`` of ``model`` at ``version`` (creating the alias if needed).

    Moving ``production`` needs models.promote; other aliases need models.write. A version of
    another model is refused (400).
    """
    access_require(tenant=tenant, actor=actor, capability=alias_capability(name), target=model)
    _check_owner(tenant, model)
    if version.model_id != model.pk:
        raise ApplicationError(
            f"Version {version.model.name}:{version.version} belongs to another model; "
            f"an alias of {model.name} can only point at one of its own versions."
        )
    with transaction.atomic():
        alias = ModelAlias.objects.all_tenants().select_for_update().filter(model=model, name=name).first()
        before = alias.version.version if alias else None
        if alias is None:
            alias = ModelAlias(tenant=tenant, model=model, name=name, version=version)
        else:
            alias.version = version
        alias.full_clean(validate_constraints=False)
        alias.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.alias.moved",
            target=alias,
            changes={"alias": name, "version": [before, version.version]},
        )
    return alias


def alias_delete(*, tenant: Tenant | None, actor: Actor, model: RegisteredModel, alias: ModelAlias) -> None:
    access_require(tenant=tenant, actor=actor, capability=alias_capability(alias.name), target=model)
    _check_owner(tenant, model)
    with transaction.atomic():
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.alias.deleted",
            target=alias,
            changes={"alias": alias.name, "version": [alias.version.version, None]},
        )
        alias.delete()


# -- local serving --------------------------------------------------------------------------------


def serving_request(*, tenant: Tenant | None, actor: Actor, version: ModelVersion) -> LocalServing:
    """Ask for ``version`` to be loaded on the local Triton (status LOADING; task enqueued)."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=version)
    _check_owner(tenant, version.model)
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
    _check_owner(tenant, serving.version.model)
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


def _serving_rows(tenant: Tenant | None) -> Any:
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
