"""Django admin for platform operators: decide on tenants' executable artifacts.

Approval rows appear (PENDING) when a tenant asks to serve tenant code on the shared
tritonserver; operators read the artifact here and approve or revoke it with an action, which
goes through ``models_registry.services.approvals`` (permission check + audit in the tenant's
chain). Nothing else about the registry is edited here: tenants own their rows.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from models_registry.models import ArtifactApproval, ModelVersion
from models_registry.services import approval_decide, approval_grant_for_version
from models_registry.services.approvals import APPROVE_PERMISSION
from portal.exceptions import ApplicationError

PREVIEW_BYTES = 64 * 1024


def _preview(version: ModelVersion | None, sha256: str) -> str:
    """The uploaded artifact's text (first 64 KiB), and whether the whole file has the digest."""
    if version is None or not version.artifact:
        return "No uploaded file to show (a URI artifact: review it where it is stored)."
    try:
        with version.artifact.open("rb") as f:
            h, head = hashlib.sha256(), b""
            for chunk in iter(lambda: f.read(1 << 20), b""):
                if len(head) < PREVIEW_BYTES:
                    head += chunk[: PREVIEW_BYTES - len(head)]
                h.update(chunk)
    except OSError as exc:
        return f"The stored file cannot be read: {exc}"
    verdict = "matches" if h.hexdigest() == sha256 else f"DOES NOT MATCH (the file is {h.hexdigest()})"
    return f"sha256 of the stored file {verdict} the digest being decided.\n\n" + head.decode(errors="replace")


class _ApproveMixin:
    """Operators holding approve_artifact see these lists (and nothing else of the registry)."""

    def has_approve_artifact_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff and request.user.has_perm(APPROVE_PERMISSION))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_approve_artifact_permission(request)  # type: ignore[misc]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_approve_artifact_permission(request)  # type: ignore[misc]


@admin.register(ArtifactApproval)
class ArtifactApprovalAdmin(_ApproveMixin, admin.ModelAdmin):
    list_display = ["tenant", "backend", "short_sha", "size", "status", "version", "requested_at", "decided_by"]
    list_filter = ["status", "backend", "tenant"]
    search_fields = ["sha256", "tenant__slug", "note"]
    readonly_fields = [
        "tenant",
        "sha256",
        "backend",
        "size",
        "version",
        "status",
        "requested_at",
        "decided_by",
        "decided_at",
        "note",
        "artifact",
    ]
    actions = ["approve", "revoke"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return ArtifactApproval.objects.all_tenants().select_related("tenant", "version__model", "decided_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from serve requests; decisions go through the actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a decision is revoked, not erased

    @admin.display(description="sha256")
    def short_sha(self, obj: ArtifactApproval) -> str:
        return obj.sha256[:16] + "…"

    @admin.display(description="artifact (first 64 KiB)")
    def artifact(self, obj: ArtifactApproval) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", _preview(obj.version, obj.sha256))

    def _decide(self, request: HttpRequest, queryset: Any, *, approve: bool) -> None:
        for row in queryset:
            try:
                approval_decide(operator=request.user, approval=row, approve=approve)
            except ApplicationError as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{row.tenant}: {row.backend} {row.sha256[:12]}… {row.status}.")

    @admin.action(description="Approve the selected artifacts for the shared Triton", permissions=["approve_artifact"])
    def approve(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Revoke the selected approvals (and unload them)", permissions=["approve_artifact"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        self._decide(request, queryset, approve=False)


@admin.register(ModelVersion)
class ModelVersionAdmin(_ApproveMixin, admin.ModelAdmin):
    """Read-only: versions are the tenants' own; the one action approves their artifacts."""

    list_display = ["__str__", "tenant", "backend", "artifact_sha256", "artifact_uri", "status", "created_at"]
    list_filter = ["backend", "status", "tenant"]
    search_fields = ["model__name", "artifact_sha256"]
    actions = ["approve_artifacts"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return ModelVersion.objects.all_tenants().select_related("tenant", "model")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(
        description="Approve these versions' artifacts for the shared Triton", permissions=["approve_artifact"]
    )
    def approve_artifacts(self, request: HttpRequest, queryset: Any) -> None:
        for version in queryset:
            try:
                row = approval_grant_for_version(operator=request.user, version=version)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{version}: {row.backend} {row.sha256[:12]}… approved.")
