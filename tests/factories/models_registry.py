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
    model: RegisteredModel, *, artifact_uri: str = "s3://models/echo/model.py", **fields: Any
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


def platform_operator(username: str = "ops@platform.test") -> Any:
    """A staff user holding models_registry.approve_artifact (the Django admin's approvers)."""
    from django.contrib.auth.models import Permission

    from tests.factories.tenants import UserFactory

    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="approve_artifact"))
    return type(user).objects.get(pk=user.pk)  # a fresh instance: the permission cache is per object


def approve_artifact(version: ModelVersion, operator: Any | None = None) -> Any:
    """Approve `version`'s artifact as a platform operator would (through the service)."""
    from models_registry.services import approval_grant_for_version

    return approval_grant_for_version(operator=operator or platform_operator(), version=version)


def approve_file(tenant: Tenant, path: Any, backend: str = "python", operator: Any | None = None) -> Any:
    """Approve the artifact at `path` (a file) for `tenant` by its sha256, as an operator would."""
    import hashlib
    from pathlib import Path

    from models_registry.services import approval_decide
    from models_registry.trust import approval_request

    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    row = approval_request(tenant=tenant, backend=backend, sha256=sha)
    return approval_decide(operator=operator or platform_operator(), approval=row, approve=True)
