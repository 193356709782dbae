"""Capacity plans: run the pure planner and keep its result.

Contract (docs/deploy.md): invalid input (unknown field, GPU, model or use case, zero
load, bad tokens) raises `PlanInvalid` -> HTTP 400 naming the problem, and nothing is stored;
valid input that no configuration can satisfy is stored with `feasible=False` and its reasons
-> HTTP 201, like a feasible plan, because "impossible" is an answer worth keeping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction

from deploy.capacity import PlanInput, PlanInputError, plan, plan_input_from_dict
from deploy.models import CapacityPlan
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


class PlanInvalid(ApplicationError):
    code = "invalid_plan_input"


def capacity_plan_compute(*, inputs: dict[str, Any]) -> dict[str, Any]:
    """The planner's result as JSON; raises PlanInvalid. Pure and deterministic."""
    try:
        return plan(plan_input_from_dict(inputs)).to_dict()
    except PlanInputError as exc:
        raise PlanInvalid(str(exc), extra={"field": _field_of(str(exc))}) from exc
    except (TypeError, ValueError) as exc:  # wrong JSON types reaching the dataclass
        raise PlanInvalid(f"invalid plan input: {exc}") from exc


def _field_of(message: str) -> str | None:
    """The PlanInput field a planner message is about (the message names it), if any."""
    for name in sorted((f.name for f in dataclasses.fields(PlanInput)), key=len, reverse=True):
        if name in message:
            return name
    if "GPU" in message:
        return "allowed_gpus"
    return None


def capacity_plan_create(*, tenant: Tenant, actor: Actor, inputs: dict[str, Any], name: str = "") -> CapacityPlan:
    """Plan and store. Raises PlanInvalid (nothing stored) or PermissionDenied."""
    access_require(tenant=tenant, actor=actor, capability="deploy.plan")
    result = capacity_plan_compute(inputs=inputs)
    with transaction.atomic():
        row = CapacityPlan(
            tenant=tenant,
            name=name[:100],
            inputs=inputs,
            result=result,
            feasible=bool(result["feasible"]),
            data_versions=result.get("data_versions") or {},
            created_by=actor.user if actor.user else None,
        )
        row.full_clean()
        row.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.capacityplan.created",
            target=row,
            changes={"feasible": [None, row.feasible], "use_case": [None, inputs.get("use_case")]},
        )
    return row
