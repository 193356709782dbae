"""Login success/failure into the audit log.

Django announces logins only through these signals (password, admin and OIDC logins alike), so
this is the one place the audit write cannot live in a service.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from tenants.actors import Actor
from tenants.audit import audit_record


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    backend = getattr(user, "backend", "") or ""
    method = "sso" if "OIDC" in backend else "password"
    audit_record(
        tenant=None,
        actor=Actor.for_user(user),
        action="tenants.user.logged_in",
        target=user,
        changes={"method": method},
    )


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        tenant=None,
        actor=Actor.anonymous(label=username or "anonymous"),
        action="tenants.user.login_failed",
        changes={"username": username},
    )
