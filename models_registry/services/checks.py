"""Checks shared by the registry services."""

from __future__ import annotations

from inference.triton.repository import InvalidModelConfig
from models_registry.models import RegisteredModel
from portal.exceptions import ApplicationError
from tenants.models import Tenant


def check_model_owner(tenant: Tenant | None, model: RegisteredModel) -> None:
    # Defence in depth: views resolve models with model_get_writable already.
    if model.tenant_id != (tenant.pk if tenant else None):
        raise ApplicationError("This model belongs to another owner and cannot be changed here.")


def invalid_spec_error(exc: InvalidModelConfig) -> ApplicationError:
    return ApplicationError(f"Invalid Triton model spec: {exc.message}", extra={"code": "invalid_model_spec"})
