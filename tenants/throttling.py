"""Per-token and per-tenant request rates (DRF throttles; 429 with Retry-After)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiToken


class _SettingsRateThrottle(SimpleRateThrottle):
    """Reads the rates when instantiated (every request), not once at import.

    DRF binds `SimpleRateThrottle.THROTTLE_RATES` at import time, so a changed
    DEFAULT_THROTTLE_RATES (override_settings, a settings reload) would otherwise be ignored.
    """

    def __init__(self) -> None:
        self.THROTTLE_RATES = dict(api_settings.DEFAULT_THROTTLE_RATES)  # type: ignore[arg-type]
        super().__init__()


class TokenRateThrottle(_SettingsRateThrottle):
    """One bucket per API token (or per user for console sessions)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"t{request.auth.key_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TenantRateThrottle(_SettingsRateThrottle):
    """One bucket per tenant, shared by all its tokens and members."""

    scope = "tenant"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        tenant = getattr(view, "tenant", None)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.pk}
