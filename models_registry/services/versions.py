"""Model versions: the one place version numbers are given out (max + 1 under the model's row
lock); recommendations and ensure_builtin_models register their versions here too.

Artifacts: an uploaded file, ``builtin:<name>``, a local ``file://`` path or a remote URI (all
for Triton, so the tensor spec is validated), or ``storage:<folder>`` (see
``models_registry.constants.STORAGE_URI_PREFIX``): files a portal app wrote to the portal's
storage and serves in-process, with no tensor spec, registered by the platform only.
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max
from django.utils import timezone

from inference.triton.local import builtin_artifact_digest
from inference.triton.repository import InvalidModelConfig
from inference.triton.specs import default_artifact_name, normalize_serving, version_spec
from models_registry.artifacts import artifact_limits, artifact_uri_check
from models_registry.constants import STORAGE_URI_PREFIX
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.services.checks import check_model_owner, invalid_spec_error
from models_registry.triton_specs import triton_name_for
from models_registry.trust import FORBIDDEN_PARAMETERS
from portal.exceptions import ApplicationError, Conflict, PayloadTooLarge
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

MAX_ARTIFACT_BYTES = 2 * 1024**3  # the default of settings.MODEL_ARTIFACT_MAX_BYTES
_REGISTER_ATTEMPTS = 8


def _digest_upload(upload: UploadedFile) -> tuple[int, str]:
    """Size and sha256 of an upload: computed while it streamed in (portal.uploads) when it came
    over HTTP; read here only for uploads made in code (tests, management commands)."""
    max_bytes, _ = artifact_limits()
    size = int(upload.size or 0)
    if size > max_bytes:
        raise PayloadTooLarge(f"The artifact is larger than {max_bytes} bytes.")
    streamed = getattr(upload, "sha256", None)
    if streamed:
        return size, str(streamed)
    h = hashlib.sha256()
    size = 0
    for chunk in upload.chunks():
        h.update(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The artifact is larger than {max_bytes} bytes.")
    upload.seek(0)
    return size, h.hexdigest()


@functools.cache
def _builtin_digest(name: str) -> tuple[int, str]:
    return builtin_artifact_digest(name)


def _digest_uri(uri: str, *, tenant: Tenant | None) -> tuple[str, int | None, str]:
    """(stored URI, size, sha256): known now only for built-in models (files the portal ships).

    Any other URI is checked as text against the allowed locations; its size and digest are
    computed by the serving task that copies it (never while the request waits).
    """
    uri = artifact_uri_check(uri, tenant_slug=tenant.slug if tenant else None)
    if uri.startswith("builtin:"):
        return (uri, *_builtin_digest(uri.removeprefix("builtin:")))
    return uri, None, ""


def _digest_storage(uri: str) -> tuple[int, str]:
    """Total size and one sha256 over the files directly in a ``storage:<folder>`` (names and
    bytes, in name order), read from the portal's default storage."""
    folder = uri.removeprefix(STORAGE_URI_PREFIX)
    if not folder or any(part in ("", ".", "..") for part in folder.split("/")):
        raise ApplicationError(f"'{uri}' is not a storage folder such as storage:recommendations/run-1.")
    try:
        _, names = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError, SuspiciousFileOperation):
        names = []
    if not names:
        raise ApplicationError(f"The storage folder {folder} holds no files.")
    h = hashlib.sha256()
    size = 0
    for name in sorted(names):
        h.update(name.encode() + b"\0")
        with default_storage.open(f"{folder}/{name}", "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if size > MAX_ARTIFACT_BYTES:
                    raise PayloadTooLarge(f"The artifact is larger than {MAX_ARTIFACT_BYTES} bytes.")
        h.update(b"\0")
    return size, h.hexdigest()


def _check_storage_version(
    *, actor: Actor, inputs: list[Any], outputs: list[Any], max_batch_size: int, serving: dict[str, Any] | None
) -> None:
    if actor.type != "system":
        raise ApplicationError(
            "storage: artifacts are written by the portal itself; upload the file or give a file://, "
            "builtin: or remote artifact_uri."
        )
    if inputs or outputs or max_batch_size or serving:
        raise ApplicationError(
            "A storage: artifact is served in-process by the portal, not by Triton: "
            "give no inputs, outputs, max_batch_size or serving options."
        )


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
    config exactly as the local target will), an artifact URI outside the allowed locations
    (models_registry.artifacts) or a reserved parameter. An upload's size and sha256 are the
    ones computed while it streamed in; a URI's are computed by the serving task that copies
    it. Never taken from the client.
    """
    access_require(tenant=tenant, actor=actor, capability="models.write", target=model)
    check_model_owner(tenant, model)
    if bool(artifact_file) == bool(artifact_uri):
        raise ApplicationError("Give exactly one of an uploaded artifact file or an artifact_uri.")
    in_storage = artifact_uri.startswith(STORAGE_URI_PREFIX)
    clean_serving: dict[str, Any] = {}
    if in_storage:
        _check_storage_version(
            actor=actor, inputs=inputs, outputs=outputs, max_batch_size=max_batch_size, serving=serving
        )
    else:
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
            raise invalid_spec_error(exc) from None
    bad_params = sorted(FORBIDDEN_PARAMETERS & set(parameters or {}))
    if bad_params and tenant is not None:
        raise ApplicationError(
            f"parameters: {', '.join(bad_params)} is reserved to the platform: it would run code from outside "
            "the artifact."
        )
    size: int | None
    if artifact_file is not None:
        size, sha = _digest_upload(artifact_file)
    elif in_storage:
        size, sha = _digest_storage(artifact_uri)
    else:
        artifact_uri, size, sha = _digest_uri(artifact_uri, tenant=tenant)
    # A storage folder has no single file to name; a Triton version dir needs one.
    name = artifact_name or ("" if in_storage else default_artifact_name(backend))
    if "/" in name or "\\" in name or name in (".", "..") or (not name and not in_storage):
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
                    # Nothing to load for a storage artifact: the app that wrote it serves it.
                    status=ModelVersion.Status.READY if in_storage else ModelVersion.Status.REGISTERED,
                    # A system actor working for a user (a training task) credits that user.
                    created_by_id=actor.user_id,
                )
                if artifact_file is not None:
                    version.artifact.save(artifact_file.name or name, artifact_file, save=False)
                # inputs/outputs are required of Triton versions only (an in-process storage
                # artifact has none; _check_storage_version made sure they are empty).
                version.full_clean(validate_constraints=False, exclude=["inputs", "outputs"] if in_storage else None)
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
