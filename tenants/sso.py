"""OIDC login through mozilla-django-oidc, with JIT users and group-claim membership sync."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.services.sso import sso_sync_memberships

User = get_user_model()


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Matches users by verified email, provisions new ones, then re-syncs memberships."""

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        from django.conf import settings

        if not settings.USE_OIDC:
            return None
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not claims.get("email"):
            return False
        # An IdP that says the email is unverified must not take over an account with that email.
        return claims.get("email_verified", True) is not False

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        email = (claims.get("email") or "").strip()
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email)

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]) -> Any:
        email = claims["email"].strip().lower()
        user = User(
            username=email[:150],
            email=email,
            first_name=(claims.get("given_name") or "")[:150],
            last_name=(claims.get("family_name") or "")[:150],
        )
        user.set_unusable_password()
        user.save()
        audit_record(
            tenant=None,
            actor=Actor(type="system", label="sso provisioning"),
            action="tenants.user.provisioned",
            target=user,
            changes={"email": [None, email], "issuer_sub": [None, claims.get("sub")]},
        )
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        return user

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        # Groups may arrive in the ID token, the userinfo response, or both.
        self._claims = {**payload, **super().get_userinfo(access_token, id_token, payload)}
        return self._claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is None:
            return None
        sso_sync_memberships(user=user, claims=getattr(self, "_claims", payload))
        return user
