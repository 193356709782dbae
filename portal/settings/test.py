"""Test settings: only what tests need differs from base.

DATABASE_URL and CELERY_BROKER_URL still come from the environment, so CI runs the same suite
on PostgreSQL and Redis (see .ci/run); locally they default to SQLite and an in-memory broker.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("TOKEN_HMAC_KEY", "test-token-hmac-key-0123456789abcdef")
os.environ.setdefault("AUDIT_HMAC_KEY", "test-audit-hmac-key-0123456789abcdef")
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-test-var-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

from portal.settings.base import *  # noqa: F403
from portal.settings.base import REST_FRAMEWORK

DEBUG = False
STATIC_ROOT = Path(os.environ["PORTAL_VAR_DIR"]) / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"token": "100000/min", "tenant": "100000/min"},
}
QA_LLM_MAX_TOKENS = 64  # SmolLM2 on CPU in tests: keep generations short
# Tenants may reference artifacts under this (never-read) bucket prefix; tests that serve local
# files configure file:// prefixes themselves.
MODEL_ARTIFACT_URI_PREFIXES = ["s3://models/"]

# Metering counts straight into UsageHour rows (the embedded backend), so a test sees what it
# metered without a flush, even where CI's CACHE_URL is a Redis; the Redis backend's own tests
# override this with PORTAL_TEST_REDIS_URL (tests/usage/conftest.py).
USAGE_REDIS_URL = ""
