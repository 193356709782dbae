"""Fault: Milvus stopped mid-question (a real Milvus Lite server, stopped and started again).

While the vector store is down a question gets a 503 with a sentence (never a 500), /readyz
answers 503 naming ``milvus``, and nothing is logged as an answer; once the same server is back
on the same port and file, the next question is answered with citations, with no manual step
(the pooled client reconnects by itself).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from qa.models import QaRecord
from tests.qa.conftest import DMCA_PAGES
from tests.support.milvus import start_lite_server, wait_no_engine

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.django_db, pytest.mark.slow]

QA = "/api/v1/qa/"
QUESTION = {"question": "Who signed the DMCA into law, and on what date?"}


@pytest.fixture
def private_milvus(qa_settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Milvus Lite server of this test alone: stopping it disturbs no other test."""
    server = start_lite_server(tmp_path)
    qa_settings.MILVUS_URI = server.uri
    qa_settings.MILVUS_COLLECTION = f"fault_{uuid.uuid4().hex[:8]}"
    qa_settings.MILVUS_TIMEOUT_S = 3.0
    box = {"server": server}
    yield box
    box["server"].stop()


def test_question_while_milvus_is_down_is_503_then_answers_once_it_is_back(
    private_milvus, index_document, api, make_token, owner_a, tenant_a, client
):
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    ask = api(make_token(owner_a, ["qa", "read"]))
    first = ask.post(QA, QUESTION, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["found"] is True

    server = private_milvus["server"]
    port, directory = server.port, server.db_path.parent
    server.stop()
    assert not wait_no_engine(server.db_path)

    down = ask.post(QA, QUESTION, format="json")
    assert down.status_code == 503, down.content
    assert "Search is unavailable" in down.content.decode()
    assert QaRecord.objects.for_tenant(tenant_a).count() == 1  # nothing half-written for the failed one
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["milvus"]["ok"] is False and checks["database"]["ok"] is True

    private_milvus["server"] = start_lite_server(directory, port=port)
    back = ask.post(QA, QUESTION, format="json")
    assert back.status_code == 200, back.content
    assert back.json()["found"] is True and "October 28, 1998" in back.json()["answer"]
    assert client.get("/readyz").json()["checks"]["milvus"]["ok"] is True
