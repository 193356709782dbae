"""Catalog services: bulk upsert (API and console import), CSV/JSON parsing, deactivation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from portal.exceptions import ApplicationError, PayloadTooLarge
from recommendations import constants as C
from recommendations.models import CatalogItem
from recommendations.selectors import catalog_ids_by_external_id
from recommendations.validation import RowError, validate_catalog_rows
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

_UPDATE_FIELDS = ["title", "description", "category", "tags", "attributes", "active", "updated_at"]


@dataclass
class CatalogImportResult:
    received: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "rejected": len(self.errors),
            "errors": [e.to_dict() for e in self.errors],
        }


def check_row_count(n: int, what: str) -> None:
    if n > C.MAX_ROWS_PER_REQUEST:
        raise PayloadTooLarge(
            f"This request has {n:,} {what}; the limit is {C.MAX_ROWS_PER_REQUEST:,} per request. "
            f"Split it into batches of at most {C.MAX_ROWS_PER_REQUEST:,}.",
            extra={"limit": C.MAX_ROWS_PER_REQUEST, "received": n},
        )


def catalog_items_upsert(*, tenant: Tenant, actor: Actor, rows: Sequence[Any]) -> CatalogImportResult:
    """Create or update items by ``external_id``; invalid rows are reported, valid rows kept.

    Tenant rule: existence is checked within ``tenant`` only, and the upsert's conflict target
    is ``(tenant, external_id)``, so another tenant's item with the same id is never touched.
    Writes one audit event with the counts. Raises PayloadTooLarge above the row limit.
    """
    access_require(tenant=tenant, actor=actor, capability="catalog.write")
    check_row_count(len(rows), "rows")
    checked = validate_catalog_rows(rows)
    result = CatalogImportResult(received=len(rows), errors=checked.errors)
    if not checked.rows:
        return result
    # Read before the transaction: see events_ingest (SQLite write-lock upgrade).
    existing = catalog_ids_by_external_id(tenant=tenant, external_ids=[r["external_id"] for _, r in checked.rows])
    objs = [CatalogItem(tenant=tenant, **r) for _, r in checked.rows]
    with transaction.atomic():
        CatalogItem.objects.bulk_create(
            objs,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["tenant", "external_id"],
            update_fields=_UPDATE_FIELDS,
        )
        result.updated = sum(1 for _, r in checked.rows if r["external_id"] in existing)
        result.created = len(checked.rows) - result.updated
        audit_record(
            tenant=tenant,
            actor=actor,
            action="recommendations.catalogitem.imported",
            target=("recommendations.catalog", "", f"{result.created} created, {result.updated} updated"),
            changes={"created": result.created, "updated": result.updated, "rejected": len(result.errors)},
        )
    return result


def catalog_item_deactivate(*, tenant: Tenant, actor: Actor, item: CatalogItem) -> CatalogItem:
    """Mark the item inactive (it is never recommended again); idempotent, audited when it changes."""
    access_require(tenant=tenant, actor=actor, capability="catalog.write", target=item)
    with transaction.atomic():
        if item.tenant_id != tenant.pk:
            raise ApplicationError("Catalog item not found.")
        if item.active:
            item.active = False
            item.save(update_fields=["active", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="recommendations.catalogitem.deactivated",
                target=item,
                changes={"active": [True, False]},
            )
        return item


def parse_catalog_file(*, name: str, content: bytes) -> list[dict[str, Any]]:
    """Rows from an uploaded ``.csv`` (header row) or ``.json`` (a list, or ``{"items": [...]}``)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError("The file is not UTF-8 text.") from None
    if name.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ApplicationError(f"The file is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if isinstance(data, dict):
            data = data.get("items")
        if not isinstance(data, list):
            raise ApplicationError('A JSON catalog is a list of items or {"items": [...]}.')
        return data
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "external_id" not in reader.fieldnames:
        raise ApplicationError("The CSV needs a header row with at least external_id and title.")
    return [dict(row) for row in reader]
