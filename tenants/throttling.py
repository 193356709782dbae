"""Per-token and per-tenant request rates (DRF throttles; 429 with Retry-After).

Algorithm: a sliding window kept as at most ``SLOTS + 1`` time slots of
``(newest timestamp, request count)`` per cache key, instead of DRF's log of one timestamp per
request. DRF's log made every request pickle and unpickle the whole window (one float per request
in the last minute: 6,000 at the default tenant rate, far more under the bench's rates), which
cost milliseconds per request and grew with throughput; the slots keep the cached value small
and the cost constant.

Invariant: never more permissive than DRF's exact log. A slot stays counted, with all its
requests, until its *newest* request leaves the window, so a request may be counted up to one
slot width (``duration / SLOTS``, 1 s for a per-minute rate) longer than its exact expiry,
never shorter. ``wait()`` (Retry-After) is the time until enough slots have left the window,
at most ``duration``.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from portal.middleware import client_ip
from tenants.models import ApiToken

SLOTS = 60


class _SettingsRateThrottle(SimpleRateThrottle):
    """Sliding window in time slots (see module docstring); rates read when instantiated.

    DRF binds `SimpleRateThrottle.THROTTLE_RATES` at import time, so a changed
    DEFAULT_THROTTLE_RATES (override_settings, a settings reload) would otherwise be ignored.
    """

    # Not DRF's key: its values are timestamp lists, these are slot lists.
    cache_format = "throttle:w:%(scope)s:%(ident)s"
    # Set by SimpleRateThrottle.__init__ (parse_rate); None only when rate is None, which
    # allow_request() checks first.
    num_requests: int
    duration: int

    def __init__(self) -> None:
        self.THROTTLE_RATES = dict(api_settings.DEFAULT_THROTTLE_RATES)  # type: ignore[arg-type]
        super().__init__()
        self.slots: list[tuple[float, int]] = []

    def get_ident(self, request: Request) -> str:
        """The client address from the one function that decides it (portal.middleware.client_ip).

        DRF's own get_ident uses the whole X-Forwarded-For header when NUM_PROXIES is unset, so
        a client could pick a fresh bucket per request by sending a different header.
        """
        return client_ip(request) or ""

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        horizon = self.now - self.duration
        # Oldest first; a slot leaves once its newest request is outside the window.
        slots = [s for s in self.cache.get(self.key, ()) if s[0] > horizon]
        self.slots = slots
        if sum(n for _, n in slots) >= self.num_requests:
            return self.throttle_failure()
        width = self.duration / SLOTS
        if slots and math.floor(slots[-1][0] / width) == math.floor(self.now / width):
            slots[-1] = (max(slots[-1][0], self.now), slots[-1][1] + 1)
        else:
            slots.append((self.now, 1))
        self.cache.set(self.key, slots, self.duration)
        return True

    def wait(self) -> float | None:
        """Seconds until enough requests have left the window for one more to pass."""
        excess = sum(n for _, n in self.slots) - self.num_requests + 1
        for newest, n in self.slots:
            excess -= n
            if excess <= 0:
                return max(0.0, newest + self.duration - self.now)
        return None


class TokenRateThrottle(_SettingsRateThrottle):
    """One bucket per API token (or per user for console sessions).

    A token's rate is its own ``rate_limit_per_minute`` (shown on the token), else the platform
    default ``API_TOKEN_RATE_DEFAULT_PER_MIN``; sessions use the "token" rate of the settings.
    A refused token request is a 429 whose sentence names the token's limit.
    """

    scope = "token"

    def allow_request(self, request: Request, view: Any) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return super().allow_request(request, view)
        per_minute = token.effective_rate_per_minute
        self.rate, self.num_requests, self.duration = f"{per_minute}/min", per_minute, 60
        if super().allow_request(request, view):
            return True
        wait = self.wait()
        raise Throttled(
            wait=wait,
            detail=(
                f"This API token's rate limit of {per_minute:,} requests per minute is exceeded "
                f"(token {token.prefix}); retry in {int(wait or 0) + 1} s, or ask an admin for a higher rate."
            ),
            code="quota_exceeded",
        )

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
