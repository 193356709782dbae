"""Quota checks (before billable work) and quota changes (owners/admins, within operator bounds).

A check reads the tenant's live window counter (``usage.meter.window_count``: Redis, or the
database backend) and the tenant's limits (cached per process for ``QUOTA_CACHE_S``, so the
recommendation hot path does not read the quota row per request). Check and count are two
steps, so concurrent requests may pass a limit by at most the number in flight.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import metrics
from portal.exceptions import ApplicationError, QuotaExceeded
from tenants.access import access_require
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Tenant
from usage import meter, registry
from usage.models import TenantQuota
from usage.selectors import QUOTA_FIELDS, EffectiveQuota, month_start, month_to_date, quota_effective

QUOTA_CACHE_S = 5.0
SOFT_ALERT_ACTION = "usage.quota.soft_limit"
EXCEEDED_ACTION = "usage.quota.exceeded"

# field -> (what the sentence calls it, its window or None)
LABELS: dict[str, tuple[str, str | None]] = {
    "qa_requests_per_day": ("Q&A requests per day", "day"),
    "recs_requests_per_minute": ("recommendation requests per minute", "minute"),
    "embedding_chunks_per_day": ("embedding chunks per day", "day"),
    "max_documents": ("documents stored", None),
    "max_storage_bytes": ("bytes stored", None),
    "monthly_budget_usd": ("monthly budget (USD)", "month"),
}
# feature being started -> the windowed quotas it consumes
FEATURE_WINDOWS: dict[str, tuple[str, ...]] = {
    "qa": ("qa_requests_per_day",),
    "recommendations": ("recs_requests_per_minute",),
    "embedding": ("embedding_chunks_per_day",),
}

_cache: dict[int, tuple[float, EffectiveQuota]] = {}


def quota_cached(tenant: Tenant) -> EffectiveQuota:
    hit = _cache.get(tenant.pk)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    quota = quota_effective(tenant=tenant)
    _cache[tenant.pk] = (now + QUOTA_CACHE_S, quota)
    return quota


def quota_cache_clear() -> None:
    _cache.clear()


def _fmt(value: float | None) -> str:
    if value is None:
        return "unlimited"
    return f"{value:,.2f}" if value != int(value) else f"{int(value):,}"


def _seconds_to_month_end(now: datetime) -> int:
    start = month_start(now)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return max(1, int((nxt - now).total_seconds()))


def _soft_alert(tenant: Tenant, field: str, used: float, limit: float, period: str, ttl_s: int) -> None:
    """Once per period per quota: an audit event the console shows as a banner."""
    if not meter.mark_once(f"{tenant.pk}:{field}:{period}", ttl_s):
        return
    audit_record(
        tenant=tenant,
        actor=Actor.system(label="usage"),
        action=SOFT_ALERT_ACTION,
        target=("quota", field, LABELS[field][0]),
        changes={"quota": field, "used": used, "limit": limit, "period": period},
    )


def _check_limit(tenant: Tenant, field: str, used: float, add: float, limit: float | None, retry_after: int) -> None:
    if limit is None:
        return
    # /metrics: portal_tenant_quota_usage_ratio (the "tenant near quota" alert reads it).
    metrics.set_quota_usage(tenant_slug=tenant.slug, quota=field, ratio=(used + add) / limit if limit else 1.0)
    if used + add > limit:
        label = LABELS[field][0]
        raise QuotaExceeded(
            f"Quota exceeded: this tenant's limit of {_fmt(limit)} {label} is used up "
            f"({_fmt(used)} used); retry in {retry_after} s or ask an admin to raise it.",
            retry_after_s=retry_after,
            extra={"quota": field, "limit": limit, "used": used},
        )
    ratio = float(settings.USAGE_SOFT_ALERT_RATIO)
    if limit and used + add >= ratio * limit:
        _soft_alert(tenant, field, used + add, limit, _period_id(field), retry_after + 60)


def _period_id(field: str) -> str:
    window = LABELS[field][1]
    now = timezone.now()
    if window in ("minute", "day"):
        return f"{meter.window_start(window, now):%Y%m%d%H%M}"
    if window == "month":
        return f"{now:%Y-%m}"
    return "stored"


def quota_check(*, tenant: Tenant, feature: str, add: int = 1, add_documents: int = 0, add_bytes: int = 0) -> None:
    """Raise ``QuotaExceeded`` (429) if starting ``add`` units of ``feature`` would pass a limit.

    ``feature`` is "qa", "recommendations" or "embedding" (an upload: documents and bytes are
    checked against what the tenant stores, the day's chunks against its window).
    """
    quota = quota_cached(tenant)
    now = timezone.now()
    if quota.budget_exhausted_month == f"{now:%Y-%m}":
        limit = quota.values.get("monthly_budget_usd")
        if limit is not None:
            raise QuotaExceeded(
                f"Quota exceeded: this tenant's monthly budget of {_fmt(limit)} USD is spent; "
                "billable requests resume next month or when an admin raises the budget.",
                retry_after_s=_seconds_to_month_end(now),
                extra={"quota": "monthly_budget_usd", "limit": limit},
            )
    for field in FEATURE_WINDOWS.get(feature, ()):
        limit = quota.values.get(field)
        if limit is None:
            continue
        window = LABELS[field][1] or "day"
        used = meter.window_count(tenant.pk, field, window, now)
        # An upload's chunks are not known yet (add=1): it is refused once the day's are used up.
        _check_limit(tenant, field, used, add, limit, meter.window_retry_after(window, now))
    if add_documents or add_bytes:
        stored = registry.storage_of(tenant)
        _check_limit(
            tenant, "max_documents", stored["documents"], add_documents, quota.values.get("max_documents"), 3600
        )
        _check_limit(
            tenant, "max_storage_bytes", stored["bytes"], add_bytes, quota.values.get("max_storage_bytes"), 3600
        )


def _parse(field: str, raw: Any) -> int | Decimal | None:
    """A tenant's requested value: null (platform default) or a number within the operator's bounds."""
    if raw is None:
        return None
    label = LABELS[field][0]
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ApplicationError(f"{field}: expected a number or null, got {type(raw).__name__}.")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ApplicationError(f"{field}: '{str(raw)[:40]}' is not a number.") from None
    if not value.is_finite():
        raise ApplicationError(f"{field}: expected a finite number.")
    low, high = settings.USAGE_QUOTA_BOUNDS[field]
    if value < Decimal(str(low)) or value > Decimal(str(high)):
        raise ApplicationError(
            f"{field}: {label} must be between {_fmt(low)} and {_fmt(high)} (the platform's bounds); "
            f"got {str(raw)[:40]}. Send null for the platform default.",
        )
    if field == "monthly_budget_usd":
        return value.quantize(Decimal("0.01"))
    if value != value.to_integral_value():
        raise ApplicationError(f"{field}: expected a whole number, got {raw}.")
    return int(value)


def quota_update(*, tenant: Tenant, actor: Actor, changes: dict[str, Any]) -> TenantQuota:
    """Set some of the tenant's quotas (owners/admins: capability ``usage.quotas``); audited."""
    access_require(tenant=tenant, actor=actor, capability="usage.quotas")
    if not isinstance(changes, dict) or not changes:
        raise ApplicationError(f"Send a JSON object with one or more of: {', '.join(QUOTA_FIELDS)}.")
    unknown = sorted(set(changes) - set(QUOTA_FIELDS))
    if unknown:
        raise ApplicationError(f"Unknown quota '{unknown[0][:60]}'; quotas are: {', '.join(QUOTA_FIELDS)}.")
    parsed = {field: _parse(field, raw) for field, raw in changes.items()}
    with transaction.atomic():
        row, _ = TenantQuota.objects.select_for_update().get_or_create(tenant=tenant)
        diff: dict[str, list[Any]] = {}
        for field, value in parsed.items():
            before = getattr(row, field)
            if before != value:
                diff[field] = [None if before is None else str(before), None if value is None else str(value)]
                setattr(row, field, value)
        if "monthly_budget_usd" in diff:
            row.budget_exhausted_month = ""  # re-checked at the next flush against the new budget
        row.full_clean()
        row.save()
        if diff:
            audit_record(tenant=tenant, actor=actor, action="usage.quota.updated", target=row, changes=diff)
    _cache.pop(tenant.pk, None)
    return row


def budgets_refresh(*, now: datetime | None = None) -> int:
    """Mark tenants whose month-to-date cost reached their budget; warn at the soft ratio.

    Called by the flush task (after new counts landed). Returns the number of budgets checked.
    """
    now = now or timezone.now()
    month = f"{now:%Y-%m}"
    default_budget = settings.USAGE_QUOTA_DEFAULTS.get("monthly_budget_usd")
    tenants = Tenant.objects.filter(is_active=True)
    if default_budget is None:
        tenants = tenants.filter(quota__monthly_budget_usd__isnull=False)
    checked = 0
    for tenant in tenants:
        budget = quota_effective(tenant=tenant).values.get("monthly_budget_usd")
        if budget is None:
            continue
        checked += 1
        spent = month_to_date(tenant=tenant, now=now)["month_to_date_usd"]
        metrics.set_quota_usage(tenant_slug=tenant.slug, quota="monthly_budget_usd", ratio=spent / float(budget))
        exhausted = month if spent >= float(budget) else ""
        with transaction.atomic():
            row, _ = TenantQuota.objects.select_for_update().get_or_create(tenant=tenant)
            if row.budget_exhausted_month != exhausted:
                row.budget_exhausted_month = exhausted
                row.save(update_fields=["budget_exhausted_month", "updated_at"])
                if exhausted:
                    audit_record(
                        tenant=tenant,
                        actor=Actor.system(label="usage"),
                        action=EXCEEDED_ACTION,
                        target=row,
                        changes={"quota": "monthly_budget_usd", "spent": spent, "limit": float(budget)},
                    )
            if spent >= float(settings.USAGE_SOFT_ALERT_RATIO) * float(budget):
                _soft_alert(tenant, "monthly_budget_usd", spent, float(budget), month, 40 * 86400)
    return checked
