"""Thin API views for the tenant itself: me, members, tokens, audit log."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.base import TenantScopedAPIView, TenantScopedViewSet
from tenants.api.filters import AuditEventFilter
from tenants.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateInputSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    MembershipCreateInputSerializer,
    MembershipSerializer,
    MembershipUpdateInputSerializer,
    MeSerializer,
    TrustedIssuerCreateInputSerializer,
    TrustedIssuerSerializer,
)
from tenants.audit_export import EXPORT_LIMIT, audit_export_response
from tenants.models import ApiToken
from tenants.selectors import audit_event_list, membership_list, token_list
from tenants.services import (
    membership_add,
    membership_change_role,
    membership_get,
    membership_remove,
    token_create,
    token_revoke,
)
from tenants.services.sso import (
    sso_desired_roles,
    sso_known_issuers,
    sso_map_claims,
    tenant_issuer_trust,
    tenant_issuer_untrust,
    trusted_issuer_list,
)


class MeView(TenantScopedAPIView):
    """Who am I, in which tenant, with which role and token scopes."""

    required_capability = {"get": "tenant.view"}
    serializer_class = MeSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return membership_list(tenant=self.tenant)

    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        user = request.user
        data = {
            "user": {"id": user.pk, "username": user.get_username(), "email": getattr(user, "email", "")},
            "tenant": {"id": self.tenant.pk, "slug": self.tenant.slug, "name": self.tenant.name},
            "role": self.membership.role,
            "scopes": token.scopes if token else None,
            "auth": "token" if token else "session",
        }
        return Response(MeSerializer(data).data)


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    required_capability = {
        "list": "members.view",
        "retrieve": "members.view",
        "create": "members.manage",
        "partial_update": "members.manage",
        "destroy": "members.manage",
        "leave": "members.view",
    }
    serializer_class = MembershipSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return membership_list(tenant=self.tenant)

    @extend_schema(request=MembershipCreateInputSerializer, responses={201: MembershipSerializer})
    def create(self, request: Request) -> Response:
        data = MembershipCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_add(tenant=self.tenant, actor=self.actor, **data.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MembershipUpdateInputSerializer, responses={200: MembershipSerializer})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = MembershipUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_change_role(
            tenant=self.tenant, actor=self.actor, membership=self.get_object(), role=data.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        membership_remove(tenant=self.tenant, actor=self.actor, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    @action(detail=False, methods=["post"])
    def leave(self, request: Request) -> Response:
        """Leave this tenant (refused for the last owner)."""
        membership = membership_get(tenant=self.tenant, membership_id=self.membership.pk)
        membership_remove(tenant=self.tenant, actor=self.actor, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Members manage their own tokens; admins see and revoke everyone's."""

    required_capability = {
        "list": "tokens.create",
        "retrieve": "tokens.create",
        "create": "tokens.create",
        "revoke": "tokens.create",
        "destroy": "tokens.create",
    }
    serializer_class = ApiTokenSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        scopes = self.request.auth.scopes if isinstance(self.request.auth, ApiToken) else None
        return token_list(tenant=self.tenant, membership=self.membership, token_scopes=scopes)

    @extend_schema(request=ApiTokenCreateInputSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        data = ApiTokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        member_id = values.pop("membership_id", None)
        membership = membership_get(tenant=self.tenant, membership_id=member_id) if member_id else self.membership
        issued = token_create(tenant=self.tenant, actor=self.actor, membership=membership, **values)
        body = ApiTokenSerializer(issued.token).data
        body["token"] = issued.plaintext
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = token_revoke(tenant=self.tenant, actor=self.actor, token=self.get_object())
        return Response(ApiTokenSerializer(token).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        token_revoke(tenant=self.tenant, actor=self.actor, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's audit log (admins). Read-only by construction: there is no write route."""

    required_capability = {"list": "audit.view", "retrieve": "audit.view", "export": "audit.view"}
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return audit_event_list(tenant=self.tenant)

    @extend_schema(
        parameters=[OpenApiParameter("fmt", enum=["csv", "json"], default="json")],
        responses={
            (200, "application/json"): AuditEventSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    # Not paginated: the whole filtered log (up to EXPORT_LIMIT) in one download.
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request: Request) -> HttpResponse:
        """Download the filtered log as CSV or JSON (up to 100,000 events)."""
        fmt = request.query_params.get("fmt", "json")
        if fmt not in ("csv", "json"):
            return Response({"detail": "fmt must be 'csv' or 'json'.", "code": "invalid"}, status=400)
        events = self.filter_queryset(self.get_queryset())[:EXPORT_LIMIT]
        return audit_export_response(events=events, fmt=fmt, filename=f"audit-{self.tenant.slug}")


class SsoPreviewInputSerializer(serializers.Serializer):
    claims = serializers.DictField(help_text='OIDC claims, e.g. {"groups": ["acme:admin"]}')
    issuer = serializers.CharField(
        max_length=255,
        required=False,
        help_text="The IdP's issuer; default the portal's configured IdP (OIDC_OP_ISSUER) or claims.iss",
    )


class SsoPreviewView(TenantScopedAPIView):
    """Which role in *this* tenant a set of SSO claims from an issuer would give (nothing is changed)."""

    required_capability = {"post": "members.manage"}
    serializer_class = SsoPreviewInputSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return membership_list(tenant=self.tenant)

    @extend_schema(request=SsoPreviewInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = SsoPreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claims = data.validated_data["claims"]
        known = sso_known_issuers()
        issuer = data.validated_data.get("issuer") or (known[0] if known else str(claims.get("iss") or ""))
        mappings = [m for m in sso_map_claims(claims, issuer=issuer) if m.tenant_slug == self.tenant.slug]
        role = sso_desired_roles(mappings).get(self.tenant.slug)
        return Response(
            {
                "tenant": self.tenant.slug,
                "issuer": issuer,
                "role": role,
                "values": [{"value": m.value, "role": m.role, "status": m.status} for m in mappings],
            }
        )


class TrustedIssuerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The IdP issuers whose group claims may grant memberships in this tenant (owners set them)."""

    required_capability = {
        "list": "members.view",
        "retrieve": "members.view",
        "create": "sso.trust",
        "destroy": "sso.trust",
    }
    serializer_class = TrustedIssuerSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return trusted_issuer_list(tenant=self.tenant)

    @extend_schema(request=TrustedIssuerCreateInputSerializer, responses={201: TrustedIssuerSerializer})
    def create(self, request: Request) -> Response:
        data = TrustedIssuerCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        trusted = tenant_issuer_trust(tenant=self.tenant, actor=self.actor, issuer=data.validated_data["issuer"])
        return Response(TrustedIssuerSerializer(trusted).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Stop trusting the issuer; the SSO memberships it granted here end at once."""
        tenant_issuer_untrust(tenant=self.tenant, actor=self.actor, trusted=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
