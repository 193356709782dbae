"""Fixtures for the documents tests: the shared specimens and the Milvus Lite server.

The specimens live in the shared data folder beside the repository (``../shared/data``; see
``shared/data/README.md``); they are read in place and never copied into the repo. Set
``PORTAL_SHARED_DATA`` to point elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from documents.extraction import ExtractedDocument, extract
from tests.support.milvus import milvus_server  # noqa: F401  (re-exported fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("PORTAL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DOCS = SHARED_DATA / "docs"

if not (DOCS / "manifest.json").is_file():  # fail loudly: a missing corpus must not look green
    raise RuntimeError(f"shared document corpus not found at {DOCS}; set PORTAL_SHARED_DATA")

MANIFEST: list[dict[str, str]] = json.loads((DOCS / "manifest.json").read_text())
GOOD_FILES = sorted(row["file"] for row in MANIFEST if row["category"] == "good")


def read_doc(rel: str) -> bytes:
    return (DOCS / rel).read_bytes()


@pytest.fixture(scope="session")
def good_docs() -> dict[str, ExtractedDocument]:
    """Every good/ file extracted once per session, keyed by its manifest path."""
    return {rel: extract(read_doc(rel), Path(rel).name) for rel in GOOD_FILES}


@pytest.fixture(scope="session")
def qa_rows() -> list[dict]:
    lines = (SHARED_DATA / "qa" / "dev.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ------------------------------------------------------------------------------------------------
# Ingestion fixtures: a real Milvus Lite server, the real in-process embedder, file storage in tmp
# ------------------------------------------------------------------------------------------------
import uuid  # noqa: E402

from tests.support.milvus import start_lite_server, wipe_vectors  # noqa: E402, F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def ingest_env(settings, milvus_server, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    """Settings for real ingestion: the session Milvus (a collection per test session), the
    in-process embedder on one thread, uploads under tmp. Every vector is deleted afterwards,
    because database ids are reused between tests."""
    from models_registry.backends import get_vector_store

    settings.MILVUS_URI = milvus_server.uri
    settings.MILVUS_COLLECTION = _SESSION_COLLECTION
    settings.MILVUS_TIMEOUT_S = 5.0
    settings.TRITON_URL = ""
    settings.INFERENCE_TORCH_THREADS = 1
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DOCUMENT_EMBED_BATCH = 16
    store = get_vector_store()
    yield store
    wipe_vectors(store.uri, store.collection_name)


_SESSION_COLLECTION = f"test_docs_{uuid.uuid4().hex[:8]}"
