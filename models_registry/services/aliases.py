"""Aliases (``production``, ``staging``...): the only thing that moves between versions."""

from __future__ import annotations

from django.db import transaction

from models_registry.constants import ALIAS_CAPABILITY_DEFAULT, PROMOTE_ALIASES
from models_registry.models import ModelAlias, ModelVersion, RegisteredModel
from models_registry.services.checks import check_model_owner
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


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
    check_model_owner(tenant, model)
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
    check_model_owner(tenant, model)
    with transaction.atomic():
        audit_record(
            tenant=tenant,
            actor=actor,
            action="models_registry.alias.deleted",
            target=alias,
            changes={"alias": alias.name, "version": [alias.version.version, None]},
        )
        alias.delete()
