"""Event ingestion: validate in Python, resolve items with one query per batch, bulk insert.

Not audited: events are high-volume data-plane writes (thousands per second), not
administrative changes; the audit log records catalog, training and experiment changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from recommendations.models import Event
from recommendations.selectors import IN_CHUNK, catalog_ids_by_external_id
from recommendations.services.catalog import check_row_count
from recommendations.validation import RowError, validate_event_rows
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant


@dataclass
class EventIngestResult:
    received: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": len(self.errors),
            "errors": [e.to_dict() for e in self.errors],
        }


def _existing_keys(
    *, tenant: Tenant, users: list[str], since: dt.datetime, until: dt.datetime
) -> set[tuple[str, int, str, dt.datetime]]:
    """Stored events of these users in [since, until] (the unique index answers it)."""
    out: set[tuple[str, int, str, dt.datetime]] = set()
    qs = Event.objects.for_tenant(tenant).filter(timestamp__gte=since, timestamp__lte=until)
    for start in range(0, len(users), IN_CHUNK):
        out.update(
            qs.filter(user_id__in=users[start : start + IN_CHUNK]).values_list(
                "user_id", "item_id", "type", "timestamp"
            )
        )
    return out


def events_ingest(*, tenant: Tenant, actor: Actor, rows: Sequence[Any]) -> EventIngestResult:
    """Store valid events; report every rejected row with its number and reason.

    Invariants: received == created + duplicates + rejected. An event identical to a stored
    one (same user, item, type, timestamp) is counted as a duplicate and not stored again
    (the unique constraint guarantees it even under concurrent requests; the counts can then
    call a racing duplicate "created"). Item ids resolve within ``tenant`` only: another
    tenant's item id is an unknown item. The insert is one transaction: all valid rows of the
    request are stored, or none. Raises PayloadTooLarge above the row limit.
    """
    access_require(tenant=tenant, actor=actor, capability="events.write")
    check_row_count(len(rows), "events")
    checked = validate_event_rows(rows, now=timezone.now())
    result = EventIngestResult(received=len(rows), errors=checked.errors)
    if not checked.rows:
        return result
    item_pk = catalog_ids_by_external_id(tenant=tenant, external_ids=[r["item_id"] for _, r in checked.rows])
    fresh: list[dict[str, Any]] = []
    for n, r in checked.rows:
        pk = item_pk.get(r["item_id"])
        if pk is None:
            result.errors.append(RowError(n, f"Unknown item_id '{r['item_id'][:80]}': not in this catalog.", "item_id"))
            continue
        r["item_pk"] = pk
        fresh.append(r)
    if result.errors:
        result.errors.sort(key=lambda e: e.row)
    if not fresh:
        return result
    stamps = [r["timestamp"] for r in fresh]
    seen = _existing_keys(
        tenant=tenant, users=sorted({r["user_id"] for r in fresh}), since=min(stamps), until=max(stamps)
    )
    objs: list[Event] = []
    for r in fresh:
        key = (r["user_id"], r["item_pk"], r["type"], r["timestamp"])
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        objs.append(
            Event(
                tenant=tenant,
                user_id=r["user_id"],
                item_id=r["item_pk"],
                type=r["type"],
                value=r["value"],
                timestamp=r["timestamp"],
                context=r["context"],
            )
        )
    # Reads above run outside the transaction on purpose: on SQLite a transaction that reads
    # first and then writes cannot wait for the write lock (SQLITE_BUSY at once under concurrent
    # writers); starting with the INSERT lets the busy timeout queue writers instead.
    with transaction.atomic():
        Event.objects.bulk_create(objs, batch_size=1000, ignore_conflicts=True)
    result.created = len(objs)
    return result
