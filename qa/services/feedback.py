"""Feedback on answers: a thumbs up or down, with an optional comment, on a visible Q&A record."""

from __future__ import annotations

from qa.models import QaFeedback, QaRecord
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant

__all__ = ["qa_feedback_create"]


def qa_feedback_create(*, tenant: Tenant, actor: Actor, record: QaRecord, rating: int, comment: str = "") -> QaFeedback:
    """Store a rating (1 up, -1 down) on ``record``, which the caller resolved through
    ``qa.selectors.qa_record_get`` (tenant-scoped, visibility-checked). Needs ``qa.ask``."""
    access_require(tenant=tenant, actor=actor, capability="qa.ask", target=record)
    fb = QaFeedback(
        tenant=tenant,
        record=record,
        rating=rating,
        comment=comment.strip(),
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    fb.full_clean()
    fb.save()
    return fb
