"""The trust rule of the shared local tritonserver (docs/security.md, "Trust model").

One tritonserver serves every tenant. An artifact that runs code inside it (``EXECUTABLE_BACKENDS``)
loads there only if it is built in (``builtin:``), platform-shared (registered by the platform,
``tenant=None``), or a platform operator approved that exact artifact for that tenant (an
APPROVED ``ArtifactApproval`` for its sha256). The digest checked is the one of the bytes copied
into the repository (``inference.triton.local.artifact_staged``), so what was approved is what
loads. Both the registry's serving task and the local deploy target ask ``LocalArtifactPolicy``.

Serving knobs are bounded for tenants' models on that server (``serving_limits_check``), from
the operator's SERVING_MAX_* settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from inference.triton.local import ArtifactError, StagedArtifact, artifact_staged
from models_registry.artifacts import artifact_limits, artifact_source
from models_registry.models import ArtifactApproval, ModelVersion
from portal.exceptions import ApplicationError, Conflict
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

# Backends whose artifacts run code in the server process or its stubs:
# - python: model.py is Python, run by the python backend stub with the server's OS user;
# - pytorch: TorchScript with custom ops, and the python-based PyTorch runtime (model.py);
# - tensorrt / tensorrtllm: engines may embed plugins or a lean runtime, native code loaded at
#   deserialisation;
# - vllm: the python-based vLLM backend; a model may ask for trust_remote_code.
# onnxruntime models are data (graphs and weights); custom op libraries would need a config the
# portal never renders. An unknown backend never loads (Triton refuses it).
EXECUTABLE_BACKENDS = frozenset({"python", "pytorch", "tensorrt", "tensorrtllm", "vllm"})
# Python-backend parameters that run code from outside the artifact (a packed interpreter).
FORBIDDEN_PARAMETERS = frozenset({"EXECUTION_ENV_PATH"})


class AwaitsApproval(Conflict):
    code = "awaits_approval"


def approval_message(backend: str, sha256: str) -> str:
    return f"This {backend}-backend artifact awaits platform approval (sha256 {sha256})."


def needs_approval(*, tenant_id: int | None, backend: str, artifact_uri: str) -> bool:
    """Whether loading this artifact on the shared server needs an operator's approval."""
    return tenant_id is not None and backend in EXECUTABLE_BACKENDS and not artifact_uri.startswith("builtin:")


def artifact_approved(*, tenant: Tenant, sha256: str) -> bool:
    return (
        bool(sha256)
        and ArtifactApproval.objects.for_tenant(tenant)
        .filter(sha256=sha256, status=ArtifactApproval.Status.APPROVED)
        .exists()
    )


def approval_request(
    *, tenant: Tenant, backend: str, sha256: str, size: int | None = None, version: ModelVersion | None = None
) -> ArtifactApproval:
    """The (tenant, sha256) approval row, created PENDING (and audited) on first sight.

    Commits on its own (callers refuse right after, and the request must survive the refusal)."""
    with transaction.atomic():
        row = ArtifactApproval.objects.for_tenant(tenant).filter(sha256=sha256).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                row = ArtifactApproval.objects.create(
                    tenant=tenant, sha256=sha256, backend=backend, size=size, version=version
                )
        except IntegrityError:  # a concurrent first sight
            return ArtifactApproval.objects.for_tenant(tenant).get(sha256=sha256)
        audit_record(
            tenant=tenant,
            actor=Actor.system(label="models_registry.trust"),
            action="models_registry.artifact.approval_requested",
            target=row,
            changes={
                "sha256": sha256,
                "backend": backend,
                "size": size,
                "version": f"{version.model.name}:{version.version}" if version is not None else None,
            },
        )
    return row


def approval_require(
    *, tenant: Tenant, backend: str, sha256: str, size: int | None = None, version: ModelVersion | None = None
) -> None:
    """Return if (tenant, sha256) is approved; else record the request and raise AwaitsApproval (409)."""
    if artifact_approved(tenant=tenant, sha256=sha256):
        return
    approval_request(tenant=tenant, backend=backend, sha256=sha256, size=size, version=version)
    raise AwaitsApproval(approval_message(backend, sha256), extra={"sha256": sha256})


# ---- serving knobs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServingLimits:
    instance_count: int
    max_batch_size: int
    queue_delay_us: int
    preferred_batch_sizes: int

    @classmethod
    def from_settings(cls) -> ServingLimits:
        return cls(
            instance_count=int(settings.SERVING_MAX_INSTANCE_COUNT),
            max_batch_size=int(settings.SERVING_MAX_BATCH_SIZE),
            queue_delay_us=int(settings.SERVING_MAX_QUEUE_DELAY_US),
            preferred_batch_sizes=int(settings.SERVING_MAX_PREFERRED_BATCH_SIZES),
        )


def serving_limits_problem(*, max_batch_size: int, serving: Mapping[str, Any] | None) -> str:
    """Why a tenant model's knobs exceed what the shared server allows ("" if they do not)."""
    limits = ServingLimits.from_settings()
    knobs = dict(serving or {})
    count = knobs.get("instance_count", 1)
    if isinstance(count, int) and count > limits.instance_count:
        return f"instance_count {count} is above the shared server's limit of {limits.instance_count}"
    if max_batch_size > limits.max_batch_size:
        return f"max_batch_size {max_batch_size} is above the shared server's limit of {limits.max_batch_size}"
    delay = knobs.get("max_queue_delay_us", 0)
    if isinstance(delay, int) and delay > limits.queue_delay_us:
        return f"max_queue_delay_us {delay} is above the shared server's limit of {limits.queue_delay_us}"
    sizes = knobs.get("preferred_batch_sizes") or []
    if isinstance(sizes, list):
        if len(sizes) > limits.preferred_batch_sizes:
            return (
                f"{len(sizes)} preferred_batch_sizes are more than the shared server's limit of "
                f"{limits.preferred_batch_sizes}"
            )
        if len(set(sizes)) != len(sizes):
            return "preferred_batch_sizes must not repeat a size"
    return ""


def serving_limits_check(*, tenant_id: int | None, max_batch_size: int, serving: Mapping[str, Any] | None) -> None:
    """ApplicationError (400) when a tenant's model asks the shared server for more than allowed.

    Platform-shared models (tenant None) are the operator's own and are not bounded here."""
    if tenant_id is None:
        return
    problem = serving_limits_problem(max_batch_size=max_batch_size, serving=serving)
    if problem:
        raise ApplicationError(
            f"{problem}; ask the platform operator, or deploy it to your own cluster.",
            extra={"code": "serving_limit"},
        )


# ---- what the serving task and the local deploy target ask ---------------------------------------


@dataclass(frozen=True)
class LocalArtifactPolicy:
    """The one gate between an artifact and the shared local tritonserver, for one owner.

    ``staged`` resolves the artifact's source (allowed locations), copies and hashes it, checks
    the digest recorded for the version (if any), the reserved parameters, the knob limits and
    the approval rule, and yields the copy to load; it raises ArtifactError (the refusal, in a
    sentence a tenant may read) otherwise. ``on_digest`` sees the copy's digest before the
    approval check. ``tenant`` None: the platform's shared models.
    """

    tenant: Tenant | None

    @contextlib.contextmanager
    def staged(
        self,
        *,
        backend: str,
        artifact_name: str,
        within: Path,
        upload_path: str = "",
        artifact_uri: str = "",
        recorded_sha256: str = "",
        parameters: Mapping[str, Any] | None = None,
        max_batch_size: int = 0,
        serving: Mapping[str, Any] | None = None,
        version: ModelVersion | None = None,
        on_digest: Callable[[StagedArtifact], None] | None = None,
    ) -> Iterator[StagedArtifact]:
        tenant_id = self.tenant.pk if self.tenant is not None else None
        reserved = sorted(FORBIDDEN_PARAMETERS & set(parameters or {}))
        if reserved and tenant_id is not None:
            raise ArtifactError(f"parameter {', '.join(reserved)} is reserved to the platform")
        try:
            serving_limits_check(tenant_id=tenant_id, max_batch_size=max_batch_size, serving=serving)
        except ApplicationError as exc:
            raise ArtifactError(exc.message) from None
        slug = self.tenant.slug if self.tenant is not None else None
        source = artifact_source(tenant_slug=slug, upload_path=upload_path, artifact_uri=artifact_uri)
        max_bytes, max_files = artifact_limits()
        with artifact_staged(
            source, name=artifact_name, within=within, max_bytes=max_bytes, max_files=max_files
        ) as art:
            if recorded_sha256 and art.sha256 != recorded_sha256:
                raise ArtifactError(
                    f"the artifact changed since its digest was recorded (sha256 {recorded_sha256}, now {art.sha256})"
                )
            if on_digest is not None:
                on_digest(art)  # e.g. record a URI artifact's first digest, approved or not
            if self.tenant is not None and needs_approval(
                tenant_id=tenant_id, backend=backend, artifact_uri="" if upload_path else artifact_uri
            ):
                try:
                    approval_require(
                        tenant=self.tenant, backend=backend, sha256=art.sha256, size=art.size, version=version
                    )
                except AwaitsApproval as exc:
                    raise ArtifactError(exc.message) from None
            yield art
