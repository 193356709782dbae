"""The Q&A models moved from the documents app to qa with their rows (documents 0003 + qa 0001).

The database is migrated back to the old head (documents 0002, no qa app), filled through the
historical models, migrated forward to today's head, and read through today's models: every row,
foreign key and JSON value is still there, the tables carry qa's names, and the content types
kept their ids. Then back and forth once more, so the reverse migration keeps the rows too.
"""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from qa.models import Conversation, QaFeedback, QaRecord

pytestmark = pytest.mark.django_db(transaction=True)

OLD_DOCUMENTS = ("documents", "0002_ingestion_lease")
QA_TABLES = {"qa_conversation", "qa_qarecord", "qa_qafeedback"}
OLD_TABLES = {"documents_conversation", "documents_qarecord", "documents_qafeedback"}
GUARDRAILS = {
    "question_injection": {"detected": False, "rules": [], "action": "none"},
    "chunk_injection": [],
    "citations": {"validated": True, "flagged": False, "removed_markers": [], "uncited_sentences": 0},
    "pii": {"answer_redaction": False, "redacted_in_answer": 0, "redacted_in_log": 1},
    "fallback": None,
}


def _migrate(*, old: bool):  # type: ignore[no-untyped-def]
    """Migrate to the old head (before the move) or to today's; returns that state's apps."""
    executor = MigrationExecutor(connection)
    nodes = executor.loader.graph.leaf_nodes()
    if old:
        nodes = [n for n in nodes if n[0] not in ("documents", "qa")] + [OLD_DOCUMENTS]
    executor.migrate([*nodes, ("qa", None)] if old else nodes)
    ContentType.objects.clear_cache()
    return executor.loader.project_state(nodes, at_end=True).apps


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def test_rows_survive_the_move_to_the_qa_app(tenant_a, owner_a):
    user = owner_a.user
    type_ids = {m: ContentType.objects.get_for_model(m).pk for m in (Conversation, QaRecord, QaFeedback)}
    try:
        old = _migrate(old=True)
        assert _tables() >= OLD_TABLES and not QA_TABLES & _tables()
        assert {
            ct.model for ct in old.get_model("contenttypes", "ContentType").objects.filter(app_label="documents")
        } >= {
            "conversation",
            "qarecord",
            "qafeedback",
        }
        conv = old.get_model("documents", "Conversation").objects.create(
            tenant_id=tenant_a.pk, title="Who signed it?", created_by_id=user.pk, shared=True, document_ids=[3, 5]
        )
        rec = old.get_model("documents", "QaRecord").objects.create(
            tenant_id=tenant_a.pk,
            conversation_id=conv.pk,
            question="Who signed the DMCA?",
            answer="President Clinton [1].",
            found=True,
            citations=[{"index": 1, "chunk_id": 7, "quote": "signed into law by President Clinton"}],
            guardrails=GUARDRAILS,
            latency_ms={"retrieve": 1.5, "generate": 2.0, "total": 4.0},
            model="extractive-v1",
            asked_by_id=user.pk,
        )
        old.get_model("documents", "QaFeedback").objects.create(
            tenant_id=tenant_a.pk, record_id=rec.pk, rating=-1, comment="too short", created_by_id=user.pk
        )

        _migrate(old=False)
        assert _tables() >= QA_TABLES and not OLD_TABLES & _tables()
        connection.check_constraints()  # every foreign key still resolves (SQLite checks here)
        moved = Conversation.objects.for_tenant(tenant_a).get(pk=conv.pk)
        assert (moved.title, moved.shared, moved.document_ids, moved.created_by) == (
            "Who signed it?",
            True,
            [3, 5],
            user,
        )
        record = moved.turns.get()
        assert record.pk == rec.pk and record.answer == "President Clinton [1]." and record.found
        assert record.guardrails == GUARDRAILS and record.citations[0]["chunk_id"] == 7
        assert record.latency_ms["total"] == 4.0 and record.asked_by == user
        feedback = QaFeedback.objects.for_tenant(tenant_a).get(record=record)
        assert (feedback.rating, feedback.comment) == (-1, "too short")
        # The content types moved with the models (same ids: permissions keep pointing at them).
        assert {m: ContentType.objects.get_for_model(m).pk for m in type_ids} == type_ids
        # New rows continue the old ids (the sequence/autoincrement moved with the table).
        newer = Conversation.objects.create(tenant=tenant_a, title="next")
        assert newer.pk > conv.pk

        back = _migrate(old=True)  # the reverse migration renames back and keeps the rows
        assert _tables() >= OLD_TABLES and not QA_TABLES & _tables()
        assert back.get_model("documents", "QaRecord").objects.get(pk=rec.pk).conversation_id == conv.pk
        assert back.get_model("documents", "Conversation").objects.count() == 2
    finally:
        _migrate(old=False)
    assert QaFeedback.objects.for_tenant(tenant_a).get(record_id=rec.pk).comment == "too short"
