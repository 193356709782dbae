"""SSO sessions end within a bound once the IdP stops vouching for the user.

The bound is settings.OIDC_REVALIDATE_S. A session signed in through SSO remembers when the IdP
last vouched for it; the first request after the bound asks the IdP's userinfo endpoint again with
the session's access token (server to server: works for every request, API calls and POSTs too,
unlike a redirect-based refresh). If the IdP answers for the same subject, the identity is marked
validated, group memberships are re-synced from the fresh claims (a group removed at the IdP
removes the membership, and with it that membership's API tokens) and the request goes on. If it
does not (user deleted or disabled at the IdP, access token expired or revoked, IdP unreachable,
identity unlinked, SSO switched off), the session is ended, audited as
`tenants.user.sso_session_ended`, and the request continues anonymous: the console sends the
person to the login page with a message, the API answers 401/403. Failing closed on an
unreachable IdP is deliberate; the password break-glass login does not depend on it.

So a user removed at the IdP keeps a console session for at most OIDC_REVALIDATE_S, and their
API tokens work for at most settings.SSO_TOKEN_IDP_MAX_AGE_S after the IdP last vouched for them
(checked in tenants/authentication.py). An IdP whose access tokens expire sooner than the bound
makes SSO users sign in again at that expiry (silent at the IdP while its own session lives).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.services.sso import sso_identity_touch, sso_identity_validated_at, sso_sync_memberships
from tenants.sso import ACCESS_TOKEN_SESSION_KEY, SSO_SESSION_KEY, PortalOIDCBackend

ENDED_ACTION = "tenants.user.sso_session_ended"
OIDC_BACKEND = f"{PortalOIDCBackend.__module__}.{PortalOIDCBackend.__qualname__}"


def sso_session_revalidate(request: HttpRequest, state: dict[str, Any]) -> str | None:
    """Ask the IdP about this session's user again; None if it still vouches, else why not."""
    user = request.user
    issuer, subject = state.get("issuer"), state.get("subject")
    token = request.session.get(ACCESS_TOKEN_SESSION_KEY)
    if not settings.USE_OIDC:
        return "single sign-on is switched off"
    if not issuer or not subject or not token:
        return "the session holds nothing to re-check it with"
    try:
        claims = PortalOIDCBackend().fetch_userinfo(token)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        return f"the identity provider no longer accepts this sign-in (HTTP {status})"
    except requests.RequestException:
        return "the identity provider could not be reached"
    except (ValueError, SuspiciousOperation, ImproperlyConfigured):
        return "the identity provider's answer could not be read"
    if claims.get("sub") != subject:
        return "the identity provider answered for another user"
    if not user.is_active:
        return "the portal account is disabled"
    if not sso_identity_touch(user=user, issuer=issuer, subject=subject):
        return "the SSO identity is no longer linked to this account"
    sso_sync_memberships(user=user, claims=claims, issuer=issuer)
    request.session[SSO_SESSION_KEY] = {**state, "validated_at": time.time()}
    return None


class SsoSessionMiddleware:
    """Re-validates SSO sessions older than OIDC_REVALIDATE_S; ends those the IdP no longer vouches for.

    After AuthenticationMiddleware and MessageMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        session = getattr(request, "session", None)
        if session is None:
            return
        state = session.get(SSO_SESSION_KEY)
        if state is None:
            if session.get(BACKEND_SESSION_KEY) != OIDC_BACKEND:
                return  # password sessions, and requests without a session (API tokens)
            state = {}  # an SSO session without re-validation state: check it now
        elif time.time() - float(state.get("validated_at", 0)) < settings.OIDC_REVALIDATE_S:
            return
        if not request.user.is_authenticated:
            return
        reason = sso_session_revalidate(request, state)
        if reason is None:
            return
        user = request.user
        audit_record(
            tenant=None,
            actor=Actor.for_user(user),
            action=ENDED_ACTION,
            target=user,
            changes={"reason": reason, "issuer": state.get("issuer", "")},
        )
        auth.logout(request)
        messages.warning(request, f"Your single sign-on session ended: {reason}. Please sign in again.")


def sso_token_allowed(user: Any) -> bool:
    """Whether an API token of `user` may be used: always for non-SSO users; for SSO users only
    while the IdP vouched for them within settings.SSO_TOKEN_IDP_MAX_AGE_S."""
    validated_at = sso_identity_validated_at(user=user)
    if validated_at is None:
        return True
    return timezone.now() - validated_at <= dt.timedelta(seconds=settings.SSO_TOKEN_IDP_MAX_AGE_S)
