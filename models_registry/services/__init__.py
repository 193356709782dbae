"""Write paths of the registry and of local serving, one module per entity. Each service:
access_require() first (its refusal is audited in its own transaction), then one transaction that validates, writes, audits with
audit_record, and enqueues work by name with portal.celery.enqueue.

Tenant-facing services take a model resolved through `model_get_writable`, so platform-shared
models (tenant=None) cannot be changed by tenants. Platform code (ensure_builtin_models) passes
`tenant=None` with a system actor.
"""

from models_registry.services.aliases import alias_capability, alias_delete, alias_set
from models_registry.services.approvals import approval_decide, approval_grant_for_version
from models_registry.services.models import model_create, model_update
from models_registry.services.serving import (
    serving_fail,
    serving_load,
    serving_reconcile,
    serving_request,
    serving_unload,
    serving_unload_request,
)
from models_registry.services.versions import version_register

__all__ = [
    "alias_capability",
    "alias_delete",
    "alias_set",
    "approval_decide",
    "approval_grant_for_version",
    "model_create",
    "model_update",
    "serving_fail",
    "serving_load",
    "serving_reconcile",
    "serving_request",
    "serving_unload",
    "serving_unload_request",
    "version_register",
]
