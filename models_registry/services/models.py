"""Registered models: create and describe (platform-shared ones only by the platform)."""

from __future__ import annotations

from django.db import transaction

from models_registry.models import RegisteredModel
from models_registry.services.checks import check_model_owner
from portal.exceptions import Conflict
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


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
    check_model_owner(tenant, model)
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
