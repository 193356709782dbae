"""Row validation for bulk catalog and event input: plain Python, no ORM, no per-row queries.

Invariants:

* Every input row ends up either in the valid list or in the error list (never both, never
  neither): nothing is silently dropped.
* Errors carry ``row``, the 1-based position of the row in the submitted list (for CSV: the
  data row, header excluded), and a sentence a person understands.
* Valid rows are normalised (stripped strings, ``str`` ids, aware UTC datetimes, floats).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommendations import constants as C
from recommendations.engine import EVENT_TYPES  # what training accepts is what ingestion accepts

_MIN_TS = dt.datetime(C.MIN_EVENT_YEAR, 1, 1, tzinfo=dt.UTC)


@dataclass
class RowError:
    row: int
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class Validated:
    """Rows that passed (with their 1-based row numbers) and the errors of the rest."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class RowInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _text(raw: Mapping[str, Any], name: str, *, max_len: int, required: bool = False) -> str:
    value = raw.get(name)
    if value is None:
        if required:
            raise RowInvalid(name, f"{name} is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowInvalid(name, f"{name} must be a string.")
    text = str(value).strip()
    if required and not text:
        raise RowInvalid(name, f"{name} must not be empty.")
    if len(text) > max_len:
        raise RowInvalid(name, f"{name} is {len(text)} characters long; the limit is {max_len}.")
    return text


def _json_size(name: str, value: Any) -> None:
    size = len(json.dumps(value, ensure_ascii=False, default=str))
    if size > C.MAX_JSON_FIELD_BYTES:
        raise RowInvalid(name, f"{name} is {size} bytes as JSON; the limit is {C.MAX_JSON_FIELD_BYTES}.")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "y", "t"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "n", "f"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RowInvalid(name, f"{name} must be true or false.")


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        # CSV cells carry tags as "a|b" or "a,b".
        sep = "|" if "|" in value else ","
        value = value.split(sep)
    if not isinstance(value, list):
        raise RowInvalid("tags", "tags must be a list of strings.")
    out: list[str] = []
    for tag in value:
        if not isinstance(tag, str | int) or isinstance(tag, bool):
            raise RowInvalid("tags", "tags must be a list of strings.")
        text = str(tag).strip()
        if len(text) > C.MAX_TAG_CHARS:
            raise RowInvalid("tags", f"a tag is longer than {C.MAX_TAG_CHARS} characters.")
        if text and text not in out:
            out.append(text)
    if len(out) > C.MAX_TAGS:
        raise RowInvalid("tags", f"{len(out)} tags; the limit is {C.MAX_TAGS}.")
    return out


def _attributes(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowInvalid("attributes", f"attributes is not valid JSON ({exc.msg}).") from None
    if not isinstance(value, dict):
        raise RowInvalid("attributes", "attributes must be a JSON object.")
    _json_size("attributes", value)
    return value


def validate_catalog_rows(rows: Iterable[Any]) -> Validated:
    """Validate catalog rows ``{external_id, title, description?, category?, tags?, attributes?, active?}``.

    A later row with the same ``external_id`` as an earlier one is an error (ambiguous upsert).
    """
    out = Validated()
    seen: dict[str, int] = {}
    for n, raw in enumerate(rows, start=1):
        try:
            if not isinstance(raw, Mapping):
                raise RowInvalid("", "each row must be an object.")
            ext = _text(raw, "external_id", max_len=C.MAX_EXTERNAL_ID_CHARS, required=True)
            if ext in seen:
                raise RowInvalid("external_id", f"external_id '{ext[:80]}' already appears in row {seen[ext]}.")
            item = {
                "external_id": ext,
                "title": _text(raw, "title", max_len=C.MAX_TITLE_CHARS, required=True),
                "description": _text(raw, "description", max_len=C.MAX_DESCRIPTION_CHARS),
                "category": _text(raw, "category", max_len=C.MAX_CATEGORY_CHARS),
                "tags": _tags(raw.get("tags")),
                "attributes": _attributes(raw.get("attributes")),
                "active": True if raw.get("active") in (None, "") else _bool(raw.get("active"), "active"),
            }
        except RowInvalid as exc:
            out.errors.append(RowError(n, exc.message, exc.field))
            continue
        seen[ext] = n
        out.rows.append((n, item))
    return out


def parse_timestamp(value: Any, *, now: dt.datetime) -> dt.datetime:
    """ISO 8601 (``Z`` or offset; naive means UTC) or Unix seconds -> aware UTC datetime."""
    if isinstance(value, bool) or value is None or value == "":
        raise RowInvalid("timestamp", "timestamp is required (ISO 8601 or Unix seconds).")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise RowInvalid("timestamp", "timestamp must be a finite number of seconds.")
        try:
            ts = dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise RowInvalid("timestamp", f"timestamp {value!r} is out of range.") from None
    elif isinstance(value, str):
        try:
            ts = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise RowInvalid(
                "timestamp", f"timestamp '{value[:40]}' is not ISO 8601 (e.g. 2024-05-01T12:00:00Z)."
            ) from None
        ts = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
    else:
        raise RowInvalid("timestamp", "timestamp must be an ISO 8601 string or Unix seconds.")
    if ts < _MIN_TS:
        raise RowInvalid("timestamp", f"timestamp {ts.isoformat()} is before {C.MIN_EVENT_YEAR}.")
    if ts > now + dt.timedelta(seconds=C.MAX_FUTURE_S):
        raise RowInvalid("timestamp", f"timestamp {ts.isoformat()} is in the future.")
    return ts


def _value(raw: Any, event_type: str) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RowInvalid("value", "value must be a number.")
    try:
        value = float(raw)
    except ValueError:
        raise RowInvalid("value", f"value '{str(raw)[:40]}' is not a number.") from None
    if not math.isfinite(value):
        raise RowInvalid("value", "value must be a finite number.")
    if value < 0:
        raise RowInvalid("value", f"value {value:g} is negative.")
    limit = C.MAX_RATING if event_type == "rating" else C.MAX_EVENT_VALUE
    if value > limit:
        raise RowInvalid("value", f"value {value:g} is above the limit of {limit:g} for {event_type} events.")
    return value


def validate_event_rows(rows: Iterable[Any], *, now: dt.datetime) -> Validated:
    """Validate event rows ``{user_id, item_id, type, value?, timestamp, context?}``.

    Item existence is not checked here (the service resolves all item ids with one query).
    """
    out = Validated()
    types = set(EVENT_TYPES)
    for n, raw in enumerate(rows, start=1):
        try:
            if not isinstance(raw, Mapping):
                raise RowInvalid("", "each row must be an object.")
            user = _text(raw, "user_id", max_len=C.MAX_USER_ID_CHARS, required=True)
            item = _text(raw, "item_id", max_len=C.MAX_EXTERNAL_ID_CHARS, required=True)
            etype = raw.get("type")
            if etype not in types:
                raise RowInvalid("type", f"type {str(etype)[:40]!r} is not one of {', '.join(EVENT_TYPES)}.")
            value = _value(raw.get("value"), etype)
            ts = parse_timestamp(raw.get("timestamp"), now=now)
            context = raw.get("context")
            if context is not None:
                if not isinstance(context, dict):
                    raise RowInvalid("context", "context must be a JSON object.")
                _json_size("context", context)
        except RowInvalid as exc:
            out.errors.append(RowError(n, exc.message, exc.field))
            continue
        out.rows.append(
            (n, {"user_id": user, "item_id": item, "type": etype, "value": value, "timestamp": ts, "context": context})
        )
    return out
