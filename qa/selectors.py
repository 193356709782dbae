"""Selectors for conversations and the Q&A log.

Visibility rule (one place): a conversation is visible to its creator and, once shared, to every
member of its tenant; a Q&A record is visible when its conversation is. Anything else in the
tenant (and everything in other tenants) is "not found", never "forbidden".
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from portal.exceptions import NotFound
from qa.models import Conversation, QaFeedback, QaRecord
from tenants.models import Tenant

__all__ = [
    "conversation_get",
    "conversation_list",
    "conversation_turns",
    "qa_feedback_list",
    "qa_record_get",
    "qa_record_list",
]


def _visible(user: Any) -> Q:
    return Q(created_by=user) | Q(shared=True) if getattr(user, "pk", None) else Q(shared=True)


def conversation_list(*, tenant: Tenant, user: Any) -> QuerySet[Conversation]:
    return (
        Conversation.objects.for_tenant(tenant)
        .filter(_visible(user))
        .select_related("created_by")
        .annotate(turn_count=Count("turns"))
    )


def conversation_get(*, tenant: Tenant, user: Any, conversation_id: Any) -> Conversation:
    """The visible conversation or :class:`NotFound` (other tenant, private, missing, malformed id)."""
    try:
        pk = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound("Conversation not found.") from None
    conv = Conversation.objects.for_tenant(tenant).filter(_visible(user), pk=pk).select_related("created_by").first()
    if conv is None:
        raise NotFound("Conversation not found.")
    return conv


def conversation_turns(*, tenant: Tenant, conversation: Conversation) -> QuerySet[QaRecord]:
    return (
        QaRecord.objects.for_tenant(tenant)
        .filter(conversation=conversation)
        .select_related("asked_by")
        .prefetch_related("feedback")
        .order_by("created_at", "id")
    )


def qa_record_list(*, tenant: Tenant, user: Any) -> QuerySet[QaRecord]:
    vis = (
        Q(conversation__created_by=user) | Q(conversation__shared=True)
        if getattr(user, "pk", None)
        else Q(conversation__shared=True)
    )
    return QaRecord.objects.for_tenant(tenant).filter(vis).select_related("conversation").order_by("-created_at", "-id")


def qa_record_get(*, tenant: Tenant, user: Any, record_id: Any) -> QaRecord:
    try:
        pk = int(record_id)
    except (TypeError, ValueError):
        raise NotFound("Q&A record not found.") from None
    rec = qa_record_list(tenant=tenant, user=user).filter(pk=pk).first()
    if rec is None:
        raise NotFound("Q&A record not found.")
    return rec


def qa_feedback_list(*, tenant: Tenant, record: QaRecord) -> QuerySet[QaFeedback]:
    return QaFeedback.objects.for_tenant(tenant).filter(record=record).order_by("-created_at", "-id")


def qa_latency_hourly(*, tenant: Tenant, since: Any, limit: int = 50_000) -> list[tuple[Any, list[float]]]:
    """Total answer latencies (ms) of the tenant's Q&A records since ``since``, per UTC hour,
    oldest first (the dashboard's p50/p95 chart). At most ``limit`` newest records are read."""
    from django.db.models.functions import TruncHour

    rows = (
        QaRecord.objects.for_tenant(tenant)
        .filter(created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .order_by("-created_at")
        .values_list("hour", "latency_ms")[:limit]
    )
    hours: dict[Any, list[float]] = {}
    for hour, latency in rows:
        total = (latency or {}).get("total") if isinstance(latency, dict) else None
        if isinstance(total, int | float):
            hours.setdefault(hour, []).append(float(total))
    return sorted(hours.items())
