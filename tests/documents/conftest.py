"""Fixtures for documents tests. The Milvus Lite server fixture is shared from tests.support."""

from __future__ import annotations

from tests.support.milvus import milvus_server  # noqa: F401  (re-exported fixture)
