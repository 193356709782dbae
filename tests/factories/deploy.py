"""Factories for deploy tests: registry models/versions to serve, plans, deployments."""

from __future__ import annotations

from typing import Any

from models_registry.models import ModelAlias, ModelVersion, RegisteredModel
from tenants.models import Tenant

ECHO_IO = {
    "inputs": [{"name": "text", "data_type": "BYTES", "dims": [1]}],
    "outputs": [{"name": "embedding", "data_type": "FP32", "dims": [4]}],
}


def model_version(
    tenant: Tenant | None,
    name: str = "echo",
    version: int = 1,
    *,
    artifact_uri: str = "",
    backend: str = "python",
    max_batch_size: int = 8,
    **fields: Any,
) -> ModelVersion:
    """A registered model version (creating its RegisteredModel on first use). tenant=None: shared."""
    model = RegisteredModel.objects.all_tenants().filter(tenant=tenant, name=name).first()
    if model is None:
        model = RegisteredModel.objects.create(tenant=tenant, name=name, task="embedding")
    return ModelVersion.objects.create(
        tenant=tenant,
        model=model,
        version=version,
        task="embedding",
        backend=backend,
        artifact_uri=artifact_uri,
        max_batch_size=max_batch_size,
        inputs=fields.pop("inputs", ECHO_IO["inputs"]),
        outputs=fields.pop("outputs", ECHO_IO["outputs"]),
        **fields,
    )


def model_alias(version: ModelVersion, name: str = "production") -> ModelAlias:
    return ModelAlias.objects.create(tenant=version.tenant, model=version.model, name=name, version=version)
