"""Django admin for platform staff. The audit log is read-only here; nothing can edit it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.forms import PortalAdminAuthenticationForm
from tenants.models import ApiToken, AuditEvent, ExternalIdentity, Membership, Tenant, TrustedIssuer

# The admin's password login gets the same lockout as the console's (tenants/login_guard.py).
admin.site.login_form = PortalAdminAuthenticationForm


class AllTenantsAdmin(admin.ModelAdmin):
    """Platform staff see every tenant's rows; that is the point of the admin."""

    def get_queryset(self, request: HttpRequest) -> Any:
        return self.model.objects.all_tenants()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AllTenantsAdmin):
    list_display = ["user", "tenant", "role", "source", "created_at"]
    list_filter = ["role", "source", "tenant"]
    raw_id_fields = ["user"]


@admin.register(ApiToken)
class ApiTokenAdmin(AllTenantsAdmin):
    list_display = ["name", "prefix", "tenant", "membership", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["tenant"]
    readonly_fields = ["key_id", "digest", "last_used_at", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued by the service so the secret is shown once


@admin.register(AuditEvent)
class AuditEventAdmin(AllTenantsAdmin):
    list_display = ["created_at", "tenant", "seq", "actor_label", "action", "target_type", "target_repr", "ip"]
    list_filter = ["tenant", "actor_type"]
    search_fields = ["action", "actor_label", "target_repr", "request_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    """SSO identities. Staff can unlink one (audited); links are only made by SSO logins."""

    list_display = ["subject", "issuer", "user", "email", "last_validated_at"]
    search_fields = ["subject", "issuer", "email", "user__username", "user__email"]
    list_filter = ["issuer"]
    raw_id_fields = ["user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ExternalIdentity) -> None:
        self._audit_unlink(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    @staticmethod
    def _audit_unlink(request: HttpRequest, obj: ExternalIdentity) -> None:
        audit_record(
            tenant=None,
            actor=Actor.for_user(request.user),
            action="tenants.user.identity_unlinked",
            target=obj.user,
            changes={"issuer": obj.issuer, "subject": obj.subject},
        )


@admin.register(TrustedIssuer)
class TrustedIssuerAdmin(AllTenantsAdmin):
    """Read-only here: tenant owners set it in the console or the API (audited in their chain)."""

    list_display = ["tenant", "issuer", "created_by", "created_at"]
    list_filter = ["issuer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
