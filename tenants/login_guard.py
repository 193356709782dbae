"""Password-login lockout: too many failures for one username, or from one address, locks sign-in.

Applies to every password login form (the console's and Django admin's, tenants/forms.py); SSO
logins are the IdP's business. Counters live in the cache (Redis in production, so all web
workers share them): a failed password adds one to the username's counter and to the client
address's counter (the address from portal.middleware.client_ip, so X-Forwarded-For cannot
rotate it). When a counter reaches its limit within LOGIN_FAILURE_WINDOW_S, sign-in for that
username (or from that address) is refused for LOGIN_FAILURE_WINDOW_S, correct password or not,
with a message saying when to try again. A successful login clears the username's counter, not
the address's (one valid account must not reset the count for guesses at others).

Audited on the platform chain: `tenants.user.login_locked` when a lock engages,
`tenants.user.login_throttled` for each attempt refused while locked.

Limits: counting happens after the password check, so parallel guesses that all start before the
limit is reached each get their answer (at most one per concurrent request beyond the limit).
Anyone can lock an account for one window by failing on purpose; that is the price of the lock,
and SSO sign-in is not affected.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from tenants.actors import Actor
from tenants.audit import audit_record

LOCKED_ACTION = "tenants.user.login_locked"
THROTTLED_ACTION = "tenants.user.login_throttled"


@dataclass(frozen=True)
class Lockout:
    scope: str  # "username" | "ip"
    retry_after_s: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after_s / 60))
        who = "this account" if self.scope == "username" else "your network address"
        unit = "minute" if minutes == 1 else "minutes"
        return (
            f"Too many failed sign-in attempts for {who}: sign-in is locked. "
            f"Try again in {minutes} {unit}, or sign in with SSO."
        )


def _subjects(username: str, ip: str | None) -> list[tuple[str, str, int]]:
    name = username.strip().lower()
    out = []
    if name:
        # Hashed: cache keys must be short and plain whatever the user typed.
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        out.append(("username", digest, settings.LOGIN_MAX_FAILURES_PER_USERNAME))
    if ip:
        out.append(("ip", ip, settings.LOGIN_MAX_FAILURES_PER_IP))
    return out


def _count_key(scope: str, ident: str) -> str:
    return f"login:fail:{scope}:{ident}"


def _lock_key(scope: str, ident: str) -> str:
    return f"login:lock:{scope}:{ident}"


def login_lockout(*, username: str, ip: str | None) -> Lockout | None:
    """The lock in force for this username or address, if any (reads only)."""
    now = time.time()
    for scope, ident, _limit in _subjects(username, ip):
        until = cache.get(_lock_key(scope, ident))
        if until is not None and until > now:
            return Lockout(scope, math.ceil(until - now))
    return None


def login_refused(*, username: str, ip: str | None, lockout: Lockout) -> None:
    """Audit an attempt refused because of `lockout` (its password was not checked)."""
    audit_record(
        tenant=None,
        actor=Actor.anonymous(label=username[:150] or "anonymous"),
        action=THROTTLED_ACTION,
        changes={"username": username[:150], "scope": lockout.scope, "retry_after_s": lockout.retry_after_s},
    )


def login_failure_record(*, username: str, ip: str | None) -> Lockout | None:
    """Count one failed password; if that reaches a limit, lock, audit, and return the lock."""
    window = settings.LOGIN_FAILURE_WINDOW_S
    engaged: Lockout | None = None
    for scope, ident, limit in _subjects(username, ip):
        key = _count_key(scope, ident)
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures < limit:
            continue
        cache.set(_lock_key(scope, ident), time.time() + window, timeout=window)
        cache.delete(key)  # a fresh count once the lock ends
        lockout = Lockout(scope, window)
        audit_record(
            tenant=None,
            actor=Actor.anonymous(label=username[:150] or "anonymous"),
            action=LOCKED_ACTION,
            changes={"username": username[:150], "scope": scope, "failures": failures, "locked_for_s": window},
        )
        engaged = engaged or lockout
    return engaged


def login_success_record(*, username: str) -> None:
    for scope, ident, _limit in _subjects(username, None):
        cache.delete(_count_key(scope, ident))
