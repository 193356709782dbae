"""Platform operators' decisions on tenants' executable artifacts (docs/security.md).

Only staff users holding ``models_registry.approve_artifact`` decide (the Django admin's actions
call these); each decision is an audit event in the tenant's own chain, the operator as actor.
Revoking stops new loads at once and unloads the registry's serving of that artifact.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from models_registry.models import ArtifactApproval, LocalServing, ModelVersion
from models_registry.trust import approval_request, needs_approval
from portal.celery import enqueue
from portal.exceptions import ApplicationError, PermissionDenied
from tenants.actors import Actor
from tenants.services import audit_record

APPROVE_PERMISSION = "models_registry.approve_artifact"


def _operator_actor(user: Any) -> Actor:
    if (
        user is None
        or not getattr(user, "is_active", False)
        or not getattr(user, "is_staff", False)
        or not user.has_perm(APPROVE_PERMISSION)
    ):
        raise PermissionDenied("Only platform operators (staff with approve_artifact) decide on tenant artifacts.")
    label = getattr(user, "email", "") or user.get_username()
    return Actor(type="user", user=user, label=f"{label} (platform operator)")


def approval_decide(*, operator: Any, approval: ArtifactApproval, approve: bool, note: str = "") -> ArtifactApproval:
    """Approve or revoke one (tenant, sha256) artifact; audited in the tenant's chain."""
    actor = _operator_actor(operator)
    with transaction.atomic():
        row = ArtifactApproval.objects.all_tenants().select_for_update().select_related("tenant").get(pk=approval.pk)
        before = row.status
        row.status = ArtifactApproval.Status.APPROVED if approve else ArtifactApproval.Status.REVOKED
        row.decided_by, row.decided_at = operator, timezone.now()
        row.note = note or row.note
        row.save()
        audit_record(
            tenant=row.tenant,
            actor=actor,
            action="models_registry.artifact.approved" if approve else "models_registry.artifact.revoked",
            target=row,
            changes={"status": [before, row.status], "sha256": row.sha256, "backend": row.backend, "note": note},
        )
        if not approve:
            _unload_revoked(row, actor)
    return row


def _unload_revoked(row: ArtifactApproval, actor: Actor) -> None:
    """Unload the registry's served copies of a revoked artifact (a local deployment that runs it
    keeps it until it is rolled out or removed again; the next load is refused)."""
    served = LocalServing.objects.for_tenant(row.tenant).filter(
        version__artifact_sha256=row.sha256,
        status__in=[LocalServing.Status.READY, LocalServing.Status.LOADING],
    )
    for serving in served:
        LocalServing.objects.for_tenant(row.tenant).filter(pk=serving.pk).update(
            status=LocalServing.Status.UNLOADING, updated_at=timezone.now()
        )
        audit_record(
            tenant=row.tenant,
            actor=actor,
            action="models_registry.serving.unload_requested",
            target=serving,
            changes={"status": [serving.status, LocalServing.Status.UNLOADING], "reason": "artifact approval revoked"},
        )
        enqueue("models_registry.unserve", tenant_id=row.tenant_id, serving_id=serving.pk)


def approval_grant_for_version(*, operator: Any, version: ModelVersion, note: str = "") -> ArtifactApproval:
    """Approve the artifact of ``version`` (a tenant's executable artifact whose digest is known)."""
    _operator_actor(operator)
    uri = "" if version.artifact else version.artifact_uri
    if not needs_approval(tenant_id=version.tenant_id, backend=version.backend, artifact_uri=uri):
        raise ApplicationError(f"{version}: this artifact needs no approval (built in, platform-shared or data only).")
    if not version.artifact_sha256:
        raise ApplicationError(
            f"{version}: its digest is not known yet (a URI artifact is hashed when it is first served)."
        )
    row = approval_request(
        tenant=version.tenant,
        backend=version.backend,
        sha256=version.artifact_sha256,
        size=version.artifact_size,
        version=version,
    )
    return approval_decide(operator=operator, approval=row, approve=True, note=note)
