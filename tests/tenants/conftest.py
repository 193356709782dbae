"""Fixtures for the tenants suite: the browser and OIDC provider fixtures, plus small helpers."""

from __future__ import annotations

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


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle buckets live in the cache; no test may inherit another's request counts."""
    cache.clear()
    yield
    cache.clear()
