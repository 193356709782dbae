"""The metering hot path (``record``), quota windows, and the flush into hourly rows.

Two backends, picked by ``settings.USAGE_REDIS_URL``:

- **Redis** (production): ``record`` is one pipelined round trip: ``HINCRBY`` into the tenant's
  hourly bucket hash ``usage:b:<tenant>:<YYYYmmddHH>`` (field ``feature|token|model|metric``)
  plus ``INCRBY``/``EXPIRE`` of the quota windows the counts feed. The periodic ``flush`` moves
  buckets into ``UsageHour`` rows:

  1. ``RENAME`` the bucket to a unique processing key ``usage:p:<uuid>:<tenant>:<hour>`` (atomic:
     a ``record`` after it starts a fresh bucket, none is lost between read and delete);
  2. in one DB transaction: insert the processing key into ``UsageFlushBatch`` (unique) and add
     the key's counts to the rows; a key already in the ledger was applied before, so nothing
     is added twice;
  3. ``DEL`` the processing key.

  A worker that dies after 1 leaves the processing key; after 2 also its ledger row. The next
  flush starts by applying (or, if in the ledger, only deleting) every leftover processing key,
  so counts are at most one interval late and never counted twice.

- **Database** (embedded default, no Redis): ``record`` adds to the ``UsageHour`` rows and the
  ``UsageWindow`` counters directly with ``F()`` updates, so the web process and the worker
  count into the same rows; ``flush`` only prunes expired windows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tenants.models import Tenant
from usage.models import UsageFlushBatch, UsageHour, UsageWindow

BUCKET_PREFIX = "usage:b:"
PROCESSING_PREFIX = "usage:p:"
WINDOW_PREFIX = "usage:w:"
SEP = "|"

# (feature, metric) -> (quota field, window). Recording one of these also counts it into the
# tenant's current window, which the quota check reads (usage.services.quotas).
WINDOWED: dict[tuple[str, str], tuple[str, str]] = {
    ("qa", "requests"): ("qa_requests_per_day", "day"),
    ("recommendations", "requests"): ("recs_requests_per_minute", "minute"),
    ("embedding", "chunks"): ("embedding_chunks_per_day", "day"),
}
WINDOW_SECONDS = {"minute": 60, "day": 86400}


# ------------------------------------------------------------------------------------------------
# time and keys
# ------------------------------------------------------------------------------------------------


def hour_of(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window_start(window: str, now: datetime) -> datetime:
    now = now.astimezone(UTC)
    if window == "minute":
        return now.replace(second=0, microsecond=0)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def window_retry_after(window: str, now: datetime) -> int:
    """Whole seconds until the window that contains ``now`` ends (at least 1)."""
    end = window_start(window, now) + timedelta(seconds=WINDOW_SECONDS[window])
    return max(1, int((end - now).total_seconds() + 0.999))


def window_key(tenant_id: int, quota: str, window: str, now: datetime) -> str:
    return f"{WINDOW_PREFIX}{tenant_id}:{quota}:{window_start(window, now):%Y%m%d%H%M}"


def _field(feature: str, token_id: int, model: str, metric: str) -> str:
    return SEP.join((feature, str(token_id), model.replace(SEP, "/"), metric))


def _parse_field(raw: str) -> tuple[str, int, str, str]:
    feature, token, model, metric = raw.split(SEP, 3)
    return feature, int(token), model, metric


def _as_int(value: int | float) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"usage counts are non-negative numbers, got {value!r}")
    return round(value)


# ------------------------------------------------------------------------------------------------
# backends
# ------------------------------------------------------------------------------------------------


@functools.cache
def _redis_client(url: str):  # type: ignore[no-untyped-def]  # redis.Redis
    import redis  # only the Redis backend needs it

    # A pool per process; short timeouts: metering must never hold a request up for long.
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)


def redis_client():  # type: ignore[no-untyped-def]
    """The Redis client of the metering backend, or None for the database backend."""
    url = getattr(settings, "USAGE_REDIS_URL", "")
    return _redis_client(url) if url else None


def _enabled() -> bool:
    return bool(getattr(settings, "USAGE_METERING_ENABLED", True))


def record(
    tenant_id: int,
    feature: str,
    token_id: int | None = None,
    model: str | None = None,
    *,
    now: datetime | None = None,
    **counts: int | float,
) -> None:
    """Count ``counts`` (metric -> amount, e.g. ``requests=1, prompt_tokens=812``) for a tenant.

    Zero counts are skipped. ``token_id`` is the ApiToken's pk (None: a session or a task);
    ``model`` the model name ("" when none). Inference time is counted in milliseconds
    (``inference_ms``) because Redis counters are integers.
    """
    if not _enabled():
        return
    now = now or timezone.now()
    items = [(metric, _as_int(v)) for metric, v in counts.items()]
    items = [(m, v) for m, v in items if v]
    if not items:
        return
    token = int(token_id or 0)
    model_name = (model or "")[:200]
    hour = hour_of(now)
    windows = [
        (window_key(tenant_id, *WINDOWED[(feature, m)], now), WINDOWED[(feature, m)][1], v)
        for m, v in items
        if (feature, m) in WINDOWED
    ]
    client = redis_client()
    if client is not None:
        bucket = f"{BUCKET_PREFIX}{tenant_id}:{hour:%Y%m%d%H}"
        pipe = client.pipeline(transaction=False)
        for metric, value in items:
            pipe.hincrby(bucket, _field(feature, token, model_name, metric), value)
        for key, window, value in windows:
            pipe.incrby(key, value)
            pipe.expire(key, WINDOW_SECONDS[window] * 2)
        pipe.execute()
        return
    _db_add(tenant_id, hour, [((feature, token, model_name, m), v) for m, v in items])
    for key, window, value in windows:
        _db_window_add(key, value, window_start(window, now) + timedelta(seconds=WINDOW_SECONDS[window] * 2))


def window_count(tenant_id: int, quota: str, window: str, now: datetime | None = None) -> int:
    """The tenant's count in the current ``window`` for ``quota`` (live, not flushed)."""
    key = window_key(tenant_id, quota, window, now or timezone.now())
    client = redis_client()
    if client is not None:
        return int(client.get(key) or 0)
    row = UsageWindow.objects.filter(key=key).values_list("value", flat=True).first()
    return int(row or 0)


def mark_once(key: str, ttl_s: int) -> bool:
    """True the first time ``key`` is marked within ``ttl_s`` (soft alerts: once per period)."""
    client = redis_client()
    if client is not None:
        return bool(client.set(f"usage:once:{key}", "1", nx=True, ex=ttl_s))
    expires = timezone.now() + timedelta(seconds=ttl_s)
    try:
        with transaction.atomic():
            UsageWindow.objects.create(key=f"once:{key}", value=1, expires_at=expires)
    except IntegrityError:
        return False
    return True


def _db_add(tenant_id: int, hour: datetime, items: Iterable[tuple[tuple[str, int, str, str], int]]) -> None:
    """Add counts to ``UsageHour`` rows: UPDATE … SET value = value + n, INSERT when missing."""
    for (feature, token, model, metric), value in items:
        qs = UsageHour.objects.all_tenants().filter(
            tenant_id=tenant_id, hour=hour, feature=feature, token_id=token, model=model, metric=metric
        )
        if qs.update(value=F("value") + value):
            continue
        try:
            with transaction.atomic():
                UsageHour.objects.create(
                    tenant_id=tenant_id,
                    hour=hour,
                    feature=feature,
                    token_id=token,
                    model=model,
                    metric=metric,
                    value=value,
                )
        except IntegrityError:
            # Another process inserted the row between our UPDATE and INSERT.
            qs.update(value=F("value") + value)


def _db_window_add(key: str, value: int, expires_at: datetime) -> None:
    qs = UsageWindow.objects.filter(key=key)
    if qs.update(value=F("value") + value):
        return
    try:
        with transaction.atomic():
            UsageWindow.objects.create(key=key, value=value, expires_at=expires_at)
    except IntegrityError:
        qs.update(value=F("value") + value)


# ------------------------------------------------------------------------------------------------
# flush (Redis backend)
# ------------------------------------------------------------------------------------------------


@dataclass
class FlushResult:
    keys: int = 0  # processing keys applied
    skipped: int = 0  # processing keys found in the ledger (applied before a crash): only deleted
    counters: int = 0  # hash fields added to rows


def claim_bucket(client, bucket_key: str) -> str | None:  # type: ignore[no-untyped-def]
    """Step 1: move a live bucket to a fresh processing key; None when it no longer exists."""
    import redis

    suffix = bucket_key[len(BUCKET_PREFIX) :]
    processing = f"{PROCESSING_PREFIX}{uuid.uuid4().hex}:{suffix}"
    try:
        client.rename(bucket_key, processing)
    except redis.ResponseError:  # "no such key": another flush claimed it first
        return None
    return processing


def apply_processing_key(client, processing_key: str) -> tuple[bool, int]:  # type: ignore[no-untyped-def]
    """Step 2: add the key's counts to ``UsageHour`` once (ledger row in the same transaction).

    Returns (applied now, counters). A key already in the ledger was applied by a flush that
    died before deleting it: nothing is added.
    """
    _, _, rest = processing_key.partition(PROCESSING_PREFIX)
    _batch, tenant_s, hour_s = rest.split(":", 2)
    hour = datetime.strptime(hour_s, "%Y%m%d%H").replace(tzinfo=UTC)
    data: Mapping[str, str] = client.hgetall(processing_key)
    items = [(_parse_field(k), int(v)) for k, v in data.items() if int(v)]
    with transaction.atomic():
        try:
            with transaction.atomic():
                UsageFlushBatch.objects.create(key=processing_key)
        except IntegrityError:
            return False, 0
        # A tenant deleted since the count: its usage goes with it (rows cascade anyway).
        if Tenant.objects.filter(pk=int(tenant_s)).exists():
            _db_add(int(tenant_s), hour, items)
    return True, len(items)


def flush(client=None) -> FlushResult:  # type: ignore[no-untyped-def]
    """Move every bucket (and every processing key a dead flush left) into ``UsageHour`` rows."""
    result = FlushResult()
    client = client or redis_client()
    if client is None:
        UsageWindow.objects.filter(expires_at__lt=timezone.now()).delete()
        return result
    # Leftovers of a flush that died first, then the live buckets.
    pending = list(client.scan_iter(match=f"{PROCESSING_PREFIX}*", count=1000))
    for bucket in client.scan_iter(match=f"{BUCKET_PREFIX}*", count=1000):
        processing = claim_bucket(client, bucket)
        if processing is not None:
            pending.append(processing)
    for key in pending:
        applied, counters = apply_processing_key(client, key)
        client.delete(key)  # step 3, only after the commit above
        if applied:
            result.keys += 1
            result.counters += counters
        else:
            result.skipped += 1
    keep = timedelta(days=int(getattr(settings, "USAGE_FLUSH_LEDGER_DAYS", 30)))
    UsageFlushBatch.objects.filter(flushed_at__lt=timezone.now() - keep).delete()
    return result
