"""Registry test data built through the services (so numbering, hashing and audit are real)."""

from __future__ import annotations

from typing import Any

from models_registry.models import LocalServing, ModelAlias, ModelVersion, RegisteredModel
from models_registry.services import alias_set, model_create, version_register
from tenants.actors import Actor
from tenants.models import Tenant

ECHO_IO: dict[str, Any] = {
    "inputs": [{"name": "text", "data_type": "BYTES", "dims": [1]}],
    "outputs": [{"name": "embedding", "data_type": "FP32", "dims": [4]}],
}
SYSTEM = Actor.system(label="test")


def registered_model(tenant: Tenant | None, name: str = "echo", task: str = "embedding") -> RegisteredModel:
    return model_create(tenant=tenant, actor=SYSTEM, name=name, task=task)


def model_version(
    model: RegisteredModel, *, artifact_uri: str = "s3://bucket/echo/model.py", **fields: Any
) -> ModelVersion:
    values: dict[str, Any] = {"backend": "python", "max_batch_size": 8, **ECHO_IO, **fields}
    return version_register(tenant=model.tenant, actor=SYSTEM, model=model, artifact_uri=artifact_uri, **values)


def model_alias(version: ModelVersion, name: str = "production") -> ModelAlias:
    return alias_set(tenant=version.tenant, actor=SYSTEM, model=version.model, name=name, version=version)


def local_serving(version: ModelVersion, status: str = LocalServing.Status.READY) -> LocalServing:
    from models_registry.triton_specs import triton_name_for

    model = version.model
    return LocalServing.objects.create(
        tenant=version.tenant,
        version=version,
        status=status,
        triton_name=triton_name_for(model_name=model.name, tenant_slug=model.tenant.slug if model.tenant else None),
    )
