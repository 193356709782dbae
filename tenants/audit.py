"""The audit log: append one hash-chained event inside the caller's transaction.

Below `tenants.access` and `tenants.services` (both write through `audit_record`), so it lives
outside the services package: importing it never pulls in the services that import the access
check.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from portal.context import current_request
from tenants.actors import Actor
from tenants.models import AuditChainHead, AuditEvent, Tenant

GENESIS_HASH = "0" * 64


def chain_key(tenant_id: int | None) -> str:
    return f"tenant:{tenant_id}" if tenant_id is not None else "platform"


def jsonable(value: Any) -> Any:
    """Make a value JSON-stable so what is hashed equals what is stored and read back."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def event_digest(event: AuditEvent) -> str:
    """sha256 over the previous hash and a canonical JSON of the event's recorded fields.

    The actor and actor_token FKs are left out on purpose: they are SET_NULL, so deleting a user
    or a token (removing a member cascades to its tokens) rewrites them, and hashing them would
    make legitimate history fail verification. `actor_label` (user, and token prefix for token
    actors) is the hashed record of who acted.
    """
    created = event.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    payload = {
        "tenant": event.tenant_id,
        "seq": event.seq,
        "actor_type": event.actor_type,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "created_at": created,
    }
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((event.prev_hash + body).encode()).hexdigest()


def _target_fields(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        meta = target._meta
        return f"{meta.app_label}.{meta.model_name}", str(target.pk or ""), str(target)[:255]
    if isinstance(target, tuple) and len(target) == 3:
        return tuple(str(x)[:255] for x in target)  # type: ignore[return-value]
    return type(target).__name__, "", str(target)[:255]


def audit_record(
    *,
    tenant: Tenant | None,
    actor: Actor,
    action: str,
    target: Any = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an AuditEvent to the tenant's chain (or the platform chain when tenant is None).

    Call it inside the service's transaction: if the audit write fails, the operation fails.
    `target` is a model instance or a (type, id, repr) tuple; `changes` is {field: [before, after]}
    or any JSON-able detail.
    """
    ctx = current_request.get()
    target_type, target_id, target_repr = _target_fields(target)
    data = jsonable(changes or {})
    if actor.type == "system" and actor.triggered_by_user_id:
        data = {**data, "triggered_by_user_id": actor.triggered_by_user_id}
    with transaction.atomic():
        head, _ = AuditChainHead.objects.get_or_create(key=chain_key(tenant.pk if tenant else None))
        head = AuditChainHead.objects.select_for_update().get(pk=head.pk)
        event = AuditEvent(
            tenant=tenant,
            seq=head.last_seq + 1,
            prev_hash=head.last_hash,
            actor=actor.user if actor.user is not None and actor.user.pk else None,
            actor_token=actor.token,
            actor_type=actor.type,
            actor_label=actor.label[:255],
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_repr=target_repr,
            changes=data,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            request_id=ctx.request_id,
            created_at=timezone.now(),
        )
        event.hash = event_digest(event)
        event.save()
        head.last_seq = event.seq
        head.last_hash = event.hash
        head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    event_id: int
    reason: str


def audit_verify_chain(*, tenant_id: int | None) -> ChainBreak | None:
    """Recompute one chain from its first event; return the first broken link, or None."""
    events = AuditEvent.objects.all_tenants()
    qs = (events.filter(tenant_id=tenant_id) if tenant_id is not None else events.filter(tenant__isnull=True)).order_by(
        "seq"
    )
    key = chain_key(tenant_id)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for event in qs.iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainBreak(key, expected_seq, event.pk, f"event #{expected_seq} is missing (found #{event.seq})")
        if event.prev_hash != expected_prev:
            return ChainBreak(key, event.seq, event.pk, "prev_hash does not match the previous event's hash")
        if event_digest(event) != event.hash:
            return ChainBreak(key, event.seq, event.pk, "content does not match its hash (row was altered)")
        expected_prev = event.hash
        expected_seq += 1
    head = AuditChainHead.objects.filter(key=key).first()
    if head is not None and head.last_seq != expected_seq - 1:
        return ChainBreak(
            key, expected_seq, 0, f"chain head says {head.last_seq} events but {expected_seq - 1} were found"
        )
    return None


def audit_verify_all() -> list[ChainBreak]:
    tenant_ids: list[int | None] = list(Tenant.objects.values_list("pk", flat=True))
    return [b for tid in [None, *tenant_ids] if (b := audit_verify_chain(tenant_id=tid)) is not None]
