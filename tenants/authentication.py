"""DRF authentication: bearer API tokens, and the console session (tenant via X-Tenant)."""

from __future__ import annotations

import hmac
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from portal.context import current_request
from tenants.access import access_deny
from tenants.actors import Actor
from tenants.models import ApiToken
from tenants.services.tokens import TOKEN_PREFIX, ip_allowed, token_digest, token_touch
from tenants.sso_session import sso_token_allowed


class TokenError(exceptions.AuthenticationFailed):
    """401 with a machine-readable code saying what is wrong with the token."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail=detail, code=code)


class TokenForbidden(exceptions.PermissionDenied):
    pass


def parse_authorization(header: str) -> tuple[str, str] | None:
    """Return (key_id, secret) from 'Bearer llmp_<key_id>.<secret>', None if no bearer header."""
    parts = header.split()
    if not parts:
        return None
    if parts[0].lower() not in ("bearer", "token"):
        return None
    if len(parts) != 2 or not parts[1].startswith(TOKEN_PREFIX) or "." not in parts[1]:
        raise TokenError(
            "Malformed Authorization header: expected 'Authorization: Bearer llmp_<key_id>.<secret>'.",
            "token_malformed",
        )
    key_id, _, secret = parts[1][len(TOKEN_PREFIX) :].partition(".")
    if not key_id or not secret or len(key_id) > 16:
        raise TokenError("Malformed API token: expected 'llmp_<key_id>.<secret>'.", "token_malformed")
    return key_id, secret


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parsed = parse_authorization(header)
        if parsed is None:
            raise TokenError(
                "Unsupported Authorization scheme: use 'Authorization: Bearer llmp_<key_id>.<secret>'.",
                "token_malformed",
            )
        key_id, secret = parsed
        # The token decides the tenant, so this one lookup is necessarily cross-tenant.
        # .get() on the unique key skips the ORDER BY that .first() would add (hot path).
        try:
            token = ApiToken.objects.all_tenants().select_related("tenant", "membership__user").get(key_id=key_id)
        except ApiToken.DoesNotExist:
            token = None
        if token is None or not hmac.compare_digest(token.digest, token_digest(secret)):
            raise TokenError("Invalid API token.", "token_invalid")
        actor = Actor.for_token(token)
        if token.is_revoked:
            self._deny(token, actor, "revoked token used")
            raise TokenError("This API token has been revoked.", "token_revoked")
        if token.is_expired:
            self._deny(token, actor, "expired token used")
            raise TokenError(f"This API token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC.", "token_expired")
        if not token.tenant.is_active:
            raise TokenError("This API token's tenant is deactivated.", "tenant_inactive")
        if not token.membership.user.is_active:
            raise TokenError("This API token's user is deactivated.", "user_inactive")
        if not sso_token_allowed(token.membership.user):
            # The user signs in through an IdP that has not vouched for them recently: they may
            # have been removed there (tenants/sso_session.py).
            self._deny(token, actor, "sso user not re-validated at the identity provider")
            raise TokenError(
                "This API token belongs to a single sign-on user whom the identity provider has not "
                "confirmed recently; sign in to the portal through SSO to use it again.",
                "sso_revalidation_required",
            )
        ip = current_request.get().ip
        if not ip_allowed(token, ip):
            self._deny(token, actor, "ip not in allow-list", ip=ip)
            raise TokenForbidden(f"Requests from {ip} are not allowed for this API token (IP allow-list).")
        token_touch(token)
        return token.membership.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _deny(token: ApiToken, actor: Actor, reason: str, **detail: Any) -> None:
        access_deny(tenant=token.tenant, actor=actor, reason=reason, target=token, at=timezone.now(), **detail)


class PortalSessionAuthentication(authentication.SessionAuthentication):
    """Console session for API calls from the browser; the tenant comes from `X-Tenant`."""


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """OpenAPI security scheme for `ApiTokenAuthentication` (drf-spectacular)."""

    target_class = "tenants.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "llmp_<key_id>.<secret>"}


class PortalSessionScheme(OpenApiAuthenticationExtension):
    """The console session cookie; such calls name their tenant in the `X-Tenant` header."""

    target_class = "tenants.authentication.PortalSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Console session; send 'X-Tenant: <tenant-slug>' and the CSRF token.",
        }
