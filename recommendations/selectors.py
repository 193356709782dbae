"""Read paths for recommendations. Every selector starts from ``.for_tenant(tenant)``.

Serving reads through here too: ``serving_cache`` only decides *when* to re-read (stamps) and
keeps the results in memory; the queries themselves are these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connections, router
from django.db.models import Count, Max, QuerySet
from django.db.models.functions import TruncDate

from portal.exceptions import NotFound
from recommendations.models import CatalogItem, Event, Experiment, Exposure, TrainingRun
from tenants.models import Tenant
from tenants.querysets import TenantScopeError

# SQLite allows 32,766 bound parameters per statement (999 before 3.32); stay well below.
IN_CHUNK = 900


def catalog_item_list(*, tenant: Tenant) -> QuerySet[CatalogItem]:
    return CatalogItem.objects.for_tenant(tenant).order_by("external_id")


def catalog_item_get(*, tenant: Tenant, item_id: int) -> CatalogItem:
    item = CatalogItem.objects.for_tenant(tenant).filter(pk=item_id).first()
    if item is None:
        raise NotFound("Catalog item not found.")
    return item


def catalog_ids_by_external_id(*, tenant: Tenant, external_ids: Iterable[str]) -> dict[str, int]:
    """``{external_id: pk}`` for the ids that exist in this tenant's catalog (one query per 900 ids)."""
    ids = list(dict.fromkeys(external_ids))
    out: dict[str, int] = {}
    qs = CatalogItem.objects.for_tenant(tenant)
    for start in range(0, len(ids), IN_CHUNK):
        out.update(qs.filter(external_id__in=ids[start : start + IN_CHUNK]).values_list("external_id", "id"))
    return out


def catalog_stamp(*, tenant: Tenant) -> str:
    """Changes whenever an item is created or updated (index on (tenant, updated_at))."""
    row = CatalogItem.objects.for_tenant(tenant).aggregate(last=Max("updated_at"), n=Count("id"))
    return f"{row['n']}:{row['last'].isoformat() if row['last'] else ''}"


def catalog_snapshot_rows(*, tenant: Tenant) -> Iterable[tuple[str, str, bool]]:
    """``(external_id, title, active)`` of every item, unordered (serving's catalog snapshot)."""
    return CatalogItem.objects.for_tenant(tenant).order_by().values_list("external_id", "title", "active")


def catalog_categories(*, tenant: Tenant) -> list[str]:
    qs = CatalogItem.objects.for_tenant(tenant).exclude(category="").values_list("category", flat=True)
    return sorted(set(qs.distinct()))


def event_list(*, tenant: Tenant) -> QuerySet[Event]:
    return Event.objects.for_tenant(tenant).select_related("item").order_by("-timestamp", "-id")


# user_history runs on every recommendation request. Building and compiling its queryset cost
# ~0.25 ms CPU there (a tenth of the request; measured with bench/recs_latency.py), and the SQL
# never changes, only the tenant and user parameters. So the statement is compiled once per
# database alias and limit, from the same .for_tenant() queryset, with sentinel parameter values
# that are then swapped for the real ones by position.
_SENTINEL_TENANT_PK = -(2**62) - 7  # never a real primary key
_SENTINEL_USER_ID = "\x00user_history sentinel\x00"
_history_statements: dict[tuple[str, int], tuple[str, list[Any], int, int]] = {}


def _history_statement(alias: str, limit: int) -> tuple[str, list[Any], int, int]:
    """``(sql, params, tenant index, user index)`` of the history query for ``alias``/``limit``."""
    cached = _history_statements.get((alias, limit))
    if cached is None:
        qs = (
            Event.objects.using(alias)
            .for_tenant(Tenant(pk=_SENTINEL_TENANT_PK))
            .filter(user_id=_SENTINEL_USER_ID)
            .order_by("-timestamp")
            .values_list("item__external_id", "type", "timestamp", "value")[:limit]
        )
        sql, params = qs.query.sql_with_params()
        template = list(params)
        if sorted(map(repr, template)) != sorted(map(repr, [_SENTINEL_TENANT_PK, _SENTINEL_USER_ID])):
            raise RuntimeError(f"unexpected user_history parameters {template!r}")
        cached = (sql, template, template.index(_SENTINEL_TENANT_PK), template.index(_SENTINEL_USER_ID))
        _history_statements[(alias, limit)] = cached  # same value if two threads race here
    return cached


def user_history(*, tenant: Tenant, user_id: str, limit: int) -> list[tuple[str, str, float, float | None]]:
    """The user's last ``limit`` events as ``(item external_id, type, unix seconds, value)``.

    One query on the ``(tenant, user_id, timestamp, ...)`` unique index plus the item pk join;
    always filtered on ``tenant`` (the statement comes from ``.for_tenant()``, see above).
    """
    if tenant is None or tenant.pk is None:
        raise TenantScopeError("Event: a tenant is required")
    alias = router.db_for_read(Event)
    sql, template, tenant_at, user_at = _history_statement(alias, limit)
    params = list(template)
    params[tenant_at] = tenant.pk
    params[user_at] = user_id
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # Without the ORM's converters, SQLite gives naive datetimes, which Django stores in UTC
    # (USE_TZ); PostgreSQL gives aware ones.
    return [
        (ext, etype, (ts if ts.tzinfo is not None else ts.replace(tzinfo=dt.UTC)).timestamp(), value)
        for ext, etype, ts, value in rows
    ]


def event_stats(*, tenant: Tenant, days: int = 30, top_n: int = 10) -> dict[str, Any]:
    """Counts by type, by day and type (last ``days`` days with events), and the top items."""
    events = Event.objects.for_tenant(tenant)
    by_type = dict(events.values_list("type").annotate(n=Count("id")).order_by())
    last = events.aggregate(last=Max("timestamp"))["last"]
    per_day: list[dict[str, Any]] = []
    if last is not None:
        since = last - dt.timedelta(days=days)
        rows = (
            events.filter(timestamp__gt=since)
            .annotate(day=TruncDate("timestamp"))
            .values_list("day", "type")
            .annotate(n=Count("id"))
            .order_by("day", "type")
        )
        days_map: dict[dt.date, dict[str, int]] = {}
        for day, etype, n in rows:
            days_map.setdefault(day, {})[etype] = n
        per_day = [
            {"day": day.isoformat(), "counts": counts, "total": sum(counts.values())}
            for day, counts in sorted(days_map.items())
        ]
    top = (
        events.values_list("item__external_id", "item__title")
        .annotate(n=Count("id"))
        .order_by("-n", "item__external_id")[:top_n]
    )
    return {
        "total": sum(by_type.values()),
        "by_type": by_type,
        "users": events.values("user_id").distinct().count(),
        "per_day": per_day,
        "top_items": [{"item_id": ext, "title": title, "events": n} for ext, title, n in top],
    }


def training_run_list(*, tenant: Tenant) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.for_tenant(tenant).select_related("model_version__model").order_by("-version")


def training_run_get(*, tenant: Tenant, run_id: int) -> TrainingRun:
    run = TrainingRun.objects.for_tenant(tenant).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"Training run {run_id} not found.")
    return run


def training_run_get_active(*, tenant: Tenant) -> TrainingRun | None:
    """The run serving this tenant (at most one is active), its registry version loaded."""
    return TrainingRun.objects.for_tenant(tenant).filter(is_active=True).select_related("model_version__model").first()


def training_run_get_ready(*, tenant: Tenant, run_id: int) -> TrainingRun | None:
    """A ready run of this tenant (e.g. an experiment variant's), or None."""
    return (
        TrainingRun.objects.for_tenant(tenant)
        .filter(pk=run_id, status=TrainingRun.Status.READY)
        .select_related("model_version__model")
        .first()
    )


def experiment_list(*, tenant: Tenant) -> QuerySet[Experiment]:
    return Experiment.objects.for_tenant(tenant).order_by("-started_at", "-id")


def experiment_get(*, tenant: Tenant, experiment_id: int) -> Experiment:
    exp = Experiment.objects.for_tenant(tenant).filter(pk=experiment_id).first()
    if exp is None:
        raise NotFound("Experiment not found.")
    return exp


def experiment_get_running(*, tenant: Tenant) -> Experiment | None:
    """The tenant's running experiment (at most one runs at a time), or None."""
    return Experiment.objects.for_tenant(tenant).filter(status=Experiment.Status.RUNNING).first()


def exposure_list(*, tenant: Tenant) -> QuerySet[Exposure]:
    return Exposure.objects.for_tenant(tenant).select_related("experiment").order_by("-created_at", "-id")
