"""Conversations and the Q&A log (every question, what was retrieved, the answer, feedback)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.querysets import TenantOwnedModel


class Conversation(TenantOwnedModel):
    """A thread of questions. Private to its creator unless shared with the tenant's members."""

    title = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_token = models.ForeignKey(
        "tenants.ApiToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    shared = models.BooleanField(default=False)
    document_ids = models.JSONField(default=list, blank=True, help_text="Optional restriction for every turn")

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class QaRecord(TenantOwnedModel):
    """One question and its answer, with the evidence trail an auditor needs."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns", null=True)
    question = models.TextField()
    standalone_query = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    found = models.BooleanField(default=False)
    citations = models.JSONField(default=list, blank=True)
    retrieved = models.JSONField(default=list, blank=True, help_text="[{chunk_id, document_id, page, score}]")
    guardrails = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    latency_ms = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=40, blank=True)
    flagged = models.BooleanField(default=False)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    asked_by_token = models.ForeignKey(
        "tenants.ApiToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return self.question[:80]


class QaFeedback(TenantOwnedModel):
    record = models.ForeignKey(QaRecord, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(choices=[(1, "up"), (-1, "down")])
    comment = models.TextField(blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
