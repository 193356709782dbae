"""OIDC login through mozilla-django-oidc: identities by (issuer, subject), then group-claim sync.

What the library leaves to us and this backend adds: the ID token's issuer must be the configured
IdP's (settings.OIDC_OP_ISSUER) and its audience must name this client; the userinfo answer must be
about the same subject as the ID token; the account is found by (issuer, subject) and linked or
created by e-mail only under the rules in tenants/services/sso.py. A refused login lands on the
login page with a message saying why. The session remembers the issuer, subject and access token
so tenants/sso_session.py can re-check the user at the IdP within settings.OIDC_REVALIDATE_S.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from tenants.services.sso import SsoLoginRefused, sso_resolve_user, sso_sync_memberships

logger = logging.getLogger(__name__)

# Session keys: the SSO identity of the session and when the IdP last vouched for it, and the
# access token that re-validation presents to the IdP's userinfo endpoint.
SSO_SESSION_KEY = "sso"
ACCESS_TOKEN_SESSION_KEY = "oidc_access_token"  # noqa: S105 - a session key name, not a secret


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Matches users by (issuer, subject), provisions or links new ones, then re-syncs memberships."""

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if not settings.USE_OIDC:
            return None
        return super().authenticate(request, **kwargs)

    def store_tokens(self, access_token: str, id_token: str) -> None:
        # Kept server-side in the session: the re-validation presents it to the IdP's userinfo.
        self.request.session[ACCESS_TOKEN_SESSION_KEY] = access_token

    def fetch_userinfo(self, access_token: str) -> dict[str, Any]:
        """The IdP's userinfo for this access token (raises requests' HTTPError on 401 etc.)."""
        claims = super().get_userinfo(access_token, "", {})
        if not isinstance(claims, dict):
            raise ValueError("userinfo is not a JSON object")
        return claims

    def _refuse(self, message: str) -> None:
        logger.warning("sso login refused: %s", message)
        request = getattr(self, "request", None)
        if request is not None:
            messages.error(request, message)

    def _issuer(self, payload: dict[str, Any]) -> str | None:
        """The ID token's issuer, if it is the configured one and the token is meant for us."""
        issuer = payload.get("iss")
        expected = settings.OIDC_OP_ISSUER
        if not isinstance(issuer, str) or not issuer or (expected and issuer != expected):
            self._refuse("The sign-in came from an identity provider this portal does not accept.")
            return None
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self.OIDC_RP_CLIENT_ID not in audiences:
            self._refuse("The identity provider's token was not issued to this portal.")
            return None
        return issuer

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        issuer = self._issuer(payload)
        if issuer is None:
            return None
        userinfo = self.fetch_userinfo(access_token)
        if userinfo.get("sub") != payload.get("sub"):
            self._refuse("The identity provider's answers disagree about who you are; sign-in refused.")
            return None
        # Groups may arrive in the ID token, the userinfo response, or both.
        claims = {**payload, **userinfo}
        try:
            user = sso_resolve_user(issuer=issuer, claims=claims)
        except SsoLoginRefused as exc:
            self._refuse(exc.message)
            return None
        sso_sync_memberships(user=user, claims=claims, issuer=issuer)
        self.request.session[SSO_SESSION_KEY] = {
            "issuer": issuer,
            "subject": str(claims["sub"]),
            "validated_at": time.time(),
        }
        return user
