"""Conversation sharing, deletion and export.

Invariants: the conversation is resolved by the caller through ``qa.selectors`` (tenant-scoped,
visibility-checked); a change needs ``qa.ask`` and only the creator may share, unshare or delete
a conversation (others get 403 on a conversation they can see); every change writes an audit
event in the same transaction. Exports contain only what was stored (PII already redacted).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from portal.exceptions import PermissionDenied
from qa.models import Conversation, QaRecord
from qa.selectors import conversation_turns
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "conversation_delete",
    "conversation_export",
    "conversation_export_markdown",
    "conversation_share",
]

EXPORT_FORMAT_VERSION = "qa-export-v1"


def _require_creator(conversation: Conversation, actor: Actor, verb: str) -> None:
    if conversation.created_by_id is None or conversation.created_by_id != actor.user_id:
        raise PermissionDenied(f"Only the person who started this conversation can {verb} it.")


def conversation_share(*, tenant: Tenant, actor: Actor, conversation: Conversation, shared: bool) -> Conversation:
    """Share with (or hide from) the tenant's other members. Idempotent; audited when it changes."""
    access_require(tenant=tenant, actor=actor, capability="qa.ask", target=conversation)
    _require_creator(conversation, actor, "share")
    if conversation.shared == shared:
        return conversation
    before = conversation.shared
    conversation.shared = shared
    conversation.full_clean()
    with transaction.atomic():
        conversation.save(update_fields=["shared", "updated_at"])
        # The action names predate the qa app; audit queries filter on them, so they stay.
        audit_record(
            tenant=tenant,
            actor=actor,
            action="documents.conversation.shared" if shared else "documents.conversation.unshared",
            target=conversation,
            changes={"shared": [before, shared]},
        )
    return conversation


def conversation_delete(*, tenant: Tenant, actor: Actor, conversation: Conversation) -> None:
    """Delete the conversation with its Q&A records and their feedback (cascade). Audited."""
    access_require(tenant=tenant, actor=actor, capability="qa.ask", target=conversation)
    _require_creator(conversation, actor, "delete")
    with transaction.atomic():
        turns = QaRecord.objects.for_tenant(tenant).filter(conversation=conversation).count()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="documents.conversation.deleted",
            target=conversation,
            changes={"turns": [turns, 0]},
        )
        conversation.delete()


def _turn_json(rec: QaRecord) -> dict[str, Any]:
    return {
        "id": rec.pk,
        "asked_at": rec.created_at.isoformat(),
        "asked_by": (rec.asked_by.get_username() if rec.asked_by else None),
        "via_token": rec.asked_by_token_id is not None,
        "question": rec.question,
        "standalone_query": rec.standalone_query,
        "answer": rec.answer,
        "found": rec.found,
        "flagged": rec.flagged,
        "citations": rec.citations,
        "retrieved": rec.retrieved,
        "model": rec.model,
        "prompt_version": rec.prompt_version,
        "guardrails": rec.guardrails,
        "usage": rec.usage,
        "latency_ms": rec.latency_ms,
        "feedback": [
            {"rating": f.rating, "comment": f.comment, "at": f.created_at.isoformat()} for f in rec.feedback.all()
        ],
    }


def conversation_export(*, tenant: Tenant, conversation: Conversation) -> dict[str, Any]:
    """The evidence trail of a conversation as a JSON-able dict (format ``EXPORT_FORMAT_VERSION``)."""
    turns = [_turn_json(r) for r in conversation_turns(tenant=tenant, conversation=conversation)]
    return {
        "format": EXPORT_FORMAT_VERSION,
        "conversation": {
            "id": conversation.pk,
            "title": conversation.title,
            "tenant": tenant.slug,
            "created_at": conversation.created_at.isoformat(),
            "created_by": conversation.created_by.get_username() if conversation.created_by else None,
            "shared": conversation.shared,
            "document_ids": conversation.document_ids,
        },
        "turns": turns,
    }


def _md_escape(text: str) -> str:
    return text.replace("\r", "").strip()


def conversation_export_markdown(*, tenant: Tenant, conversation: Conversation) -> str:
    """The same evidence trail as Markdown, for people (auditors) rather than programs."""
    data = conversation_export(tenant=tenant, conversation=conversation)
    c = data["conversation"]
    out = [
        f"# Conversation {c['id']}: {_md_escape(c['title']) or '(untitled)'}",
        "",
        f"- Tenant: `{c['tenant']}`",
        f"- Started: {c['created_at']} by {c['created_by'] or 'unknown'}",
        f"- Shared with the tenant: {'yes' if c['shared'] else 'no'}",
        f"- Export format: {data['format']}",
        "",
    ]
    for i, t in enumerate(data["turns"], start=1):
        out += [
            f"## Turn {i} (record {t['id']}, {t['asked_at']})",
            "",
            f"**Question:** {_md_escape(t['question'])}",
            "",
        ]
        if t["standalone_query"]:
            out += [f"**Standalone query:** {_md_escape(t['standalone_query'])}", ""]
        out += [f"**Answer:** {_md_escape(t['answer'])}", ""]
        if t["citations"]:
            out += ["**Citations:**", ""]
            for cit in t["citations"]:
                page = f", page {cit['page']}" if cit.get("page") else ""
                quote = " ".join(str(cit["quote"]).split())
                out.append(
                    f"{cit['index']}. {cit['document_title']} (document {cit['document_id']}{page}, "
                    f"chunk {cit['chunk_id']}, score {cit['score']}): > {quote}"
                )
            out.append("")
        retrieved = ", ".join(f"{r['chunk_id']} ({r['score']})" for r in t["retrieved"]) or "none"
        g = t["guardrails"] or {}
        qi = g.get("question_injection", {})
        out += [
            "**Evidence trail:**",
            "",
            f"- Retrieved chunk ids (score): {retrieved}",
            f"- Model: {t['model'] or 'n/a'}; prompt version: {t['prompt_version'] or 'n/a (extractive)'}",
            f"- Found: {t['found']}; citations flagged: {t['flagged']}; "
            f"removed markers: {g.get('citations', {}).get('removed_markers', [])}",
            f"- Prompt injection in question: {qi.get('detected', False)} ({qi.get('action', 'none')})",
            f"- Prompt injection in retrieved chunks: "
            f"{[x['chunk_id'] for x in g.get('chunk_injection', [])] or 'none'}",
            f"- Fallback: {g.get('fallback') or 'none'}",
            f"- PII redacted in this log: {g.get('pii', {}).get('redacted_in_log', 0)}",
            f"- Latency ms: {json.dumps(t['latency_ms'])}",
        ]
        for f in t["feedback"]:
            out.append(f"- Feedback: {'up' if f['rating'] > 0 else 'down'} {f['comment']!r} at {f['at']}")
        out.append("")
    return "\n".join(out)
