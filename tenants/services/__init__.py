"""Tenant services: the only code that changes tenants, memberships, tokens and the audit log."""

from tenants.audit import audit_record, audit_verify_all, audit_verify_chain
from tenants.services.tenancy import (
    membership_add,
    membership_change_role,
    membership_get,
    membership_remove,
    tenant_create,
    tenant_update_settings,
)
from tenants.services.tokens import IssuedToken, token_create, token_get, token_revoke

__all__ = [
    "IssuedToken",
    "audit_record",
    "audit_verify_all",
    "audit_verify_chain",
    "membership_add",
    "membership_change_role",
    "membership_get",
    "membership_remove",
    "tenant_create",
    "tenant_update_settings",
    "token_create",
    "token_get",
    "token_revoke",
]
