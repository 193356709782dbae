"""Fixtures for the tenants suite: the browser and OIDC provider fixtures, plus small helpers."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache

from tests.support.browser import browser, browser_context, page, pytest_runtest_makereport
from tests.support.oidc import oidc_provider_factory

__all__ = [
    "browser",
    "browser_context",
    "oidc_provider_factory",
    "page",
    "pytest_runtest_makereport",
]

# Playwright's sync API runs an asyncio loop in the test thread; Django's async-safety guard
# would then refuse ORM calls made by the test itself (the live server runs in its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle buckets live in the cache; no test may inherit another's request counts."""
    cache.clear()
    yield
    cache.clear()
