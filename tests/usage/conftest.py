from __future__ import annotations

import os

import pytest
import redis
from django.test import override_settings

from usage import services

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(autouse=True)
def _fresh_quota_cache():
    services.quota_cache_clear()
    yield
    services.quota_cache_clear()


@pytest.fixture
def usage_redis():
    """The Redis metering backend on a real Redis (db 13, flushed before and after)."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    with override_settings(USAGE_REDIS_URL=REDIS_URL):
        yield client
    client.flushdb()
