"""Conversations: private by default, shared read-only, creator-only delete, exports, feedback."""

from __future__ import annotations

import json

import pytest

from qa.models import Conversation, QaFeedback, QaRecord
from tenants.models import AuditEvent
from tests.qa.conftest import DMCA_PAGES

pytestmark = [pytest.mark.usefixtures("qa_settings"), pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def asked(api, make_token, owner_a, index_document, tenant_a):  # type: ignore[no-untyped-def]
    index_document(tenant_a, "DMCA summary", DMCA_PAGES)
    client = api(make_token(owner_a, ["qa", "read"]))
    first = client.post("/api/v1/qa/", {"question": "Who signed the DMCA into law?"}, format="json").json()
    second = client.post(
        "/api/v1/qa/",
        {"question": "What about the penalties for a first offense?", "conversation_id": first["conversation_id"]},
        format="json",
    ).json()
    return {"client": client, "first": first, "second": second, "conv": first["conversation_id"]}


def test_private_until_shared_then_read_only_for_others(asked, api, viewer_a, tenant_a):
    conv = asked["conv"]
    other = api(user=viewer_a.user, tenant="acme")
    assert other.get(f"/api/v1/conversations/{conv}/").status_code == 404
    assert conv not in {c["id"] for c in other.get("/api/v1/conversations/").json()["results"]}
    assert other.get(f"/api/v1/qa/{asked['first']['id']}/").status_code == 404
    assert other.post(f"/api/v1/conversations/{conv}/share/", {}, format="json").status_code == 404

    shared = asked["client"].post(f"/api/v1/conversations/{conv}/share/", {"shared": True}, format="json")
    assert shared.status_code == 200 and shared.json()["shared"] is True
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="documents.conversation.shared").count() == 1

    detail = other.get(f"/api/v1/conversations/{conv}/")
    assert detail.status_code == 200 and len(detail.json()["turns"]) == 2 and detail.json()["is_mine"] is False
    assert other.get(f"/api/v1/qa/{asked['first']['id']}/").status_code == 200
    # Shared means readable, not writable: no follow-ups, no delete, no unshare by others.
    follow = other.post("/api/v1/qa/", {"question": "and the date?", "conversation_id": conv}, format="json")
    assert follow.status_code == 403 and "read-only" in follow.json()["detail"]
    assert other.delete(f"/api/v1/conversations/{conv}/").status_code == 403
    assert other.post(f"/api/v1/conversations/{conv}/share/", {"shared": False}, format="json").status_code == 403
    assert Conversation.objects.for_tenant(tenant_a).filter(pk=conv, shared=True).exists()


def test_creator_deletes_with_turns_and_feedback(asked, tenant_a):
    client = asked["client"]
    fb = client.post(
        f"/api/v1/qa/{asked['first']['id']}/feedback/", {"rating": "down", "comment": "too short"}, format="json"
    )
    assert fb.status_code == 201 and fb.json()["rating"] == "down"
    assert client.delete(f"/api/v1/conversations/{asked['conv']}/").status_code == 204
    assert not Conversation.objects.for_tenant(tenant_a).filter(pk=asked["conv"]).exists()
    assert not QaRecord.objects.for_tenant(tenant_a).exists() and not QaFeedback.objects.for_tenant(tenant_a).exists()
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="documents.conversation.deleted").exists()
    assert client.get(f"/api/v1/conversations/{asked['conv']}/").status_code == 404


def test_feedback_is_stored_and_listed(asked, tenant_a, owner_a):
    client = asked["client"]
    rid = asked["second"]["id"]
    assert client.post(f"/api/v1/qa/{rid}/feedback/", {"rating": "up"}, format="json").status_code == 201
    bad = client.post(f"/api/v1/qa/{rid}/feedback/", {"rating": "meh"}, format="json")
    assert bad.status_code == 400
    rows = client.get(f"/api/v1/qa/{rid}/feedback/").json()
    assert [r["rating"] for r in rows] == ["up"]
    fb = QaFeedback.objects.for_tenant(tenant_a).get()
    assert fb.record_id == rid and fb.created_by == owner_a.user and fb.rating == 1


def test_exports_are_an_evidence_trail(asked):
    client = asked["client"]
    client.post(f"/api/v1/qa/{asked['first']['id']}/feedback/", {"rating": "up", "comment": "good"}, format="json")
    js = client.get(f"/api/v1/conversations/{asked['conv']}/export/?fmt=json")
    assert js.status_code == 200 and js["Content-Type"].startswith("application/json")
    assert "attachment" in js["Content-Disposition"]
    data = json.loads(js.content)
    assert data["format"] == "qa-export-v1" and len(data["turns"]) == 2
    t1, t2 = data["turns"]
    assert t1["citations"] == asked["first"]["citations"]
    assert {r["chunk_id"] for r in t1["retrieved"]} >= {c["chunk_id"] for c in t1["citations"]}
    assert t1["model"] == "extractive-v1" and "prompt_version" in t1
    assert t1["guardrails"]["citations"]["validated"] is True and "question_injection" in t1["guardrails"]
    assert t2["standalone_query"] and t1["feedback"][0]["comment"] == "good"

    md = client.get(f"/api/v1/conversations/{asked['conv']}/export/?fmt=md")
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    assert "## Turn 1" in text and "## Turn 2" in text and "**Citations:**" in text
    assert "Retrieved chunk ids" in text and "Prompt injection in question: False" in text
    assert asked["first"]["citations"][0]["quote"].split()[0] in text
    assert client.get(f"/api/v1/conversations/{asked['conv']}/export/?fmt=pdf").status_code == 400


def test_openapi_schema_has_the_qa_routes(client):  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert {
        "/api/v1/qa/",
        "/api/v1/qa/{id}/",
        "/api/v1/qa/{id}/feedback/",
        "/api/v1/conversations/",
        "/api/v1/conversations/{id}/",
        "/api/v1/conversations/{id}/share/",
        "/api/v1/conversations/{id}/export/",
    } <= set(paths)
    ask = json.dumps(paths["/api/v1/qa/"]["post"])
    assert "QaAskInputRequest" in ask and "QaAnswer" in ask
    components = schema["components"]["schemas"]
    assert "question" in components["QaAskInputRequest"]["properties"]
    assert "citations" in components["QaAnswer"]["properties"]


def test_feedback_accepts_numbers_too(asked):
    rid = asked["first"]["id"]
    assert asked["client"].post(f"/api/v1/qa/{rid}/feedback/", {"rating": -1}, format="json").json()["rating"] == "down"
    assert asked["client"].post(f"/api/v1/qa/{rid}/feedback/", {"rating": 1}, format="json").json()["rating"] == "up"
