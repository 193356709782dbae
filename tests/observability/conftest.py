from __future__ import annotations

from tests.documents.conftest import ingest_env, milvus_server  # noqa: F401  (re-exported fixtures)
from tests.support.browser import browser, browser_context, page, pytest_runtest_makereport  # noqa: F401
