"""Fixtures for the tenants suite: the browser and OIDC provider fixtures, plus small helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser

from tests.support.browser import browser_context, page, pytest_runtest_makereport, running_chromium
from tests.support.milvus import milvus_server
from tests.support.oidc import oidc_provider_factory

__all__ = [
    "browser_context",
    "milvus_server",
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


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator[Browser]:
    """Headless Chromium for one test module (overrides the session-scoped support fixture).

    While Playwright's sync API is running it keeps an asyncio loop in the test thread, and
    Django's async-safety guard then refuses every ORM call the test thread makes. So the guard
    is lifted (DJANGO_ALLOW_ASYNC_UNSAFE) exactly while the browser lives, and the browser ends
    with its module, so that later modules (e.g. test_sso.py) run with the guard intact.
    Depending on django_db_setup creates the test database before the loop starts.
    """
    with running_chromium(allow_async_unsafe=True) as instance:
        yield instance
