"""The sliding-window throttle: never more permissive than an exact per-request log, bounded
cache value, Retry-After that lets the next request through. Runs on the real (locmem) cache with
a controlled clock; the HTTP-level 429 behaviour is in test_tokens.py."""

from __future__ import annotations

import random
from typing import Any

from tenants.throttling import SLOTS, _SettingsRateThrottle


class _Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.25

    def __call__(self) -> float:
        return self.t


def _throttle(rate: str, clock: _Clock) -> Any:
    class Fixed(_SettingsRateThrottle):
        scope = "test"

        def get_cache_key(self, request: Any, view: Any) -> str:
            return self.cache_format % {"scope": self.scope, "ident": "x"}

    Fixed.rate = rate
    Fixed.timer = clock  # type: ignore[assignment]
    return Fixed()


def _allow(rate: str, clock: _Clock) -> tuple[bool, Any]:
    throttle = _throttle(rate, clock)  # a fresh instance per request, as DRF does
    return throttle.allow_request(None, None), throttle


def test_never_more_than_n_in_any_window_and_not_much_stricter():
    clock, rng = _Clock(), random.Random(7)
    accepted: list[float] = []
    for _ in range(3000):
        clock.t += rng.expovariate(1 / 0.4)  # ~150 requests/min offered against 100/min allowed
        if _allow("100/min", clock)[0]:
            accepted.append(clock.t)
    for i, t in enumerate(accepted):
        in_window = sum(1 for u in accepted[max(0, i - 200) : i + 1] if u > t - 60)
        assert in_window <= 100, (t, in_window)
    # Long-run throughput stays close to the limit (at most one slot of 1 s counted too long).
    minutes = (accepted[-1] - accepted[0]) / 60
    assert len(accepted) / minutes > 100 * 60 / 61 * 0.97


def test_burst_then_retry_after_lets_exactly_the_next_request_through():
    clock = _Clock()
    assert all(_allow("3/min", clock)[0] for _ in range(3))
    clock.t += 10
    allowed, throttle = _allow("3/min", clock)
    assert not allowed
    wait = throttle.wait()
    assert 0 < wait <= 60 and abs(wait - 50) < 1e-6
    clock.t += wait - 0.01
    assert not _allow("3/min", clock)[0]
    clock.t += 0.02
    assert _allow("3/min", clock)[0]


def test_cached_value_stays_bounded():
    clock = _Clock()
    throttle = None
    for _ in range(20_000):
        clock.t += 0.003
        _, throttle = _allow("1000000/min", clock)
    assert len(throttle.cache.get(throttle.key)) <= SLOTS + 1
