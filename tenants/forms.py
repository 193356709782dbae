"""Password login forms with the lockout (tenants/login_guard.py): the console's and the admin's."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from portal.context import current_request
from tenants.login_guard import Lockout, login_failure_record, login_lockout, login_refused, login_success_record


class LockoutMixin:
    """Refuses sign-in while locked, counts failed passwords, clears the count on success.

    Must come before the Django form class in the bases: it wraps that class's clean().
    """

    lockout: Lockout | None = None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        ip = current_request.get().ip
        lockout = login_lockout(username=username, ip=ip)
        if lockout is not None:
            login_refused(username=username, ip=ip, lockout=lockout)
            self.lockout = lockout
            raise ValidationError(lockout.message, code="locked")
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except ValidationError as exc:
            if exc.code == "invalid_login":
                lockout = login_failure_record(username=username, ip=ip)
                if lockout is not None:
                    self.lockout = lockout
                    raise ValidationError(lockout.message, code="locked") from exc
            raise
        login_success_record(username=username)
        return cleaned


class PortalAuthenticationForm(LockoutMixin, AuthenticationForm):
    pass


class PortalAdminAuthenticationForm(LockoutMixin, AdminAuthenticationForm):
    pass
