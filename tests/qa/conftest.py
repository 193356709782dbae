"""Fixtures for the Q&A tests: a real Milvus Lite server, real MiniLM embeddings, real documents.

The pure answering and guardrail tests need none of it; every module that asks through the
service or the API lists ``pytest.mark.usefixtures("qa_settings")`` in its ``pytestmark``.

``index_document(tenant, title, pages)`` creates a ready Document with one Chunk per text (page
numbers as given), embeds the texts with the query embedder (in-process MiniLM) and upserts the
vectors under the tenant, exactly as the ingestion pipeline stores them. Vectors written by a
test are deleted at its teardown: the database is rolled back between tests and reuses ids.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from documents.models import Chunk, Document
from documents.vectors import tenant_vector_key
from inference.vectorstore import ChunkVector
from models_registry.backends import get_embedder, get_vector_store
from tenants.models import Tenant
from tests.support.browser import browser_context, page, pytest_runtest_makereport
from tests.support.milvus import milvus_server, wipe_vectors

__all__ = ["browser_context", "milvus_server", "page", "pytest_runtest_makereport"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("PORTAL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

IndexFn = Callable[..., Document]


_COLLECTION = f"qa_tests_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def qa_settings(settings, milvus_server, tmp_path):  # type: ignore[no-untyped-def]
    """Point the Q&A layer at the session's Milvus Lite; embedded default (no Triton, no LLM).

    Every vector is deleted at teardown: the database is rolled back and reuses ids."""
    settings.MILVUS_URI = milvus_server.uri
    settings.MILVUS_COLLECTION = _COLLECTION
    settings.MILVUS_TIMEOUT_S = 5.0
    settings.TRITON_URL = ""
    settings.TRITON_LLM_MODEL = ""
    settings.INFERENCE_TORCH_THREADS = 1
    settings.MEDIA_ROOT = str(tmp_path / "media")
    yield settings
    wipe_vectors(milvus_server.uri, get_vector_store().collection_name)


@pytest.fixture
def index_document(db, qa_settings) -> IndexFn:  # type: ignore[no-untyped-def]

    def make(
        tenant: Tenant,
        title: str,
        pages: Sequence[tuple[int | None, str]],
        *,
        status: str = Document.Status.READY,
        generation: int = 1,
    ) -> Document:
        body = "\n".join(t for _, t in pages).encode()
        doc = Document.objects.create(
            tenant=tenant,
            title=title,
            filename=f"{title}.txt",
            file=f"documents/test/{title}.txt",
            kind=Document.Kind.TXT,
            size_bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            status=status,
            generation=generation,
        )
        add_generation(tenant, doc, pages, generation)
        return doc

    def add_generation(
        tenant: Tenant, doc: Document, pages: Sequence[tuple[int | None, str]], generation: int
    ) -> list[Chunk]:
        rows = [
            Chunk.objects.create(
                tenant=tenant,
                document=doc,
                generation=generation,
                ordinal=i,
                text=text,
                page=page,
                pages=[page] if page else [],
                token_count=len(text.split()),
            )
            for i, (page, text) in enumerate(pages)
        ]
        vectors = get_embedder().embed([r.text for r in rows])
        key = tenant_vector_key(tenant.pk)
        get_vector_store().upsert(
            tenant=key,
            rows=[
                ChunkVector(
                    chunk_id=r.pk,
                    document_id=doc.pk,
                    generation=generation,
                    text=r.text,
                    embedding=[float(x) for x in v],
                    page=r.page or 0,
                )
                for r, v in zip(rows, vectors, strict=True)
            ],
        )
        return rows

    make.add_generation = add_generation  # type: ignore[attr-defined]
    return make


# Real text (U.S. Copyright Office summary of the DMCA, public domain; shared/data/docs/good/dmca.pdf).
DMCA_PAGES: list[tuple[int | None, str]] = [
    (
        1,
        "The Digital Millennium Copyright Act (DMCA) was signed into law by President Clinton on "
        "October 28, 1998. The legislation implements two 1996 World Intellectual Property "
        "Organization (WIPO) treaties. The DMCA is divided into five titles.",
    ),
    (
        7,
        "Penalties range up to a $500,000 fine or up to five years imprisonment for a first offense, "
        "and up to a $1,000,000 fine or up to 10 years imprisonment for subsequent offenses.",
    ),
    (
        17,
        "Title V of the DMCA, the Vessel Hull Design Protection Act, creates a new system for "
        "protecting original designs of certain useful articles. Protection is limited to the hulls "
        "of vessels no longer than 200 feet.",
    ),
]

RECIPES_PAGES: list[tuple[int | None, str]] = [
    (
        1,
        "Sourdough bread needs a starter of flour and water that has been fed for at least five days. "
        "Bake the loaf at 230 degrees Celsius for forty minutes.",
    ),
    (2, "A classic vinaigrette uses three parts olive oil to one part vinegar, with mustard to emulsify."),
]
