"""Metered usage in hourly rows, the flush ledger, and per-tenant quotas.

``UsageHour`` holds one counter per (tenant, hour, feature, API token, model, metric): narrow
rows, so a new metric needs no migration and a month of a busy tenant stays a few thousand rows
(docs/usage.md). Rows are written only by ``usage.meter`` (the flush, or the embedded backend's
direct upsert); nothing else updates them.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from tenants.models import Tenant
from tenants.querysets import TenantQuerySet


class UsageHour(models.Model):
    """One metric's total for one tenant, UTC hour, feature, token (0 = none) and model ("" = none)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()  # UTC, truncated to the hour
    feature = models.CharField(max_length=32)
    # The ApiToken's pk, not a FK: usage outlives a revoked or deleted token and must not be
    # cascaded away with it (0 = console session or background work).
    token_id = models.BigIntegerField(default=0)
    model = models.CharField(max_length=200, blank=True, default="")
    metric = models.CharField(max_length=32)
    value = models.BigIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "hour", "feature", "token_id", "model", "metric"], name="uniq_usage_hour_key"
            )
        ]
        # (tenant, hour): a tenant's period; (hour): the platform page's period over all tenants.
        indexes = [models.Index(fields=["tenant", "hour"]), models.Index(fields=["hour"])]
        ordering = ["tenant_id", "hour"]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.hour:%Y-%m-%dT%H} {self.feature}.{self.metric}={self.value}"


class UsageFlushBatch(models.Model):
    """A Redis processing key whose counts are in ``UsageHour`` (written in the same transaction).

    The flush looks a processing key up here before adding it: a worker that died after the
    commit but before deleting the key leaves it behind, and the next flush only deletes it.
    """

    key = models.CharField(max_length=200, unique=True)
    flushed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.key


class UsageWindow(models.Model):
    """A quota window's counter for the embedded backend (no Redis): one row per window key."""

    key = models.CharField(max_length=200, unique=True)
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


_nonneg = [MinValueValidator(0)]


class TenantQuota(models.Model):
    """A tenant's limits; a null field means the platform default (settings.USAGE_QUOTA_DEFAULTS).

    Values are checked against the operator's bounds (settings.USAGE_QUOTA_BOUNDS) by
    ``usage.services.quota_update``, the only writer.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="quota")
    qa_requests_per_day = models.BigIntegerField(null=True, blank=True, validators=_nonneg)
    recs_requests_per_minute = models.BigIntegerField(null=True, blank=True, validators=_nonneg)
    embedding_chunks_per_day = models.BigIntegerField(null=True, blank=True, validators=_nonneg)
    max_documents = models.BigIntegerField(null=True, blank=True, validators=_nonneg)
    max_storage_bytes = models.BigIntegerField(null=True, blank=True, validators=_nonneg)
    monthly_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    # Set by the flush when month-to-date cost reaches the budget ("YYYY-MM"); the hot path reads
    # this instead of pricing the month on every request.
    budget_exhausted_month = models.CharField(max_length=7, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"quota of {self.tenant_id}"
