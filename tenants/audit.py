"""The audit log: append one keyed, hash-chained event inside the caller's transaction.

Below `tenants.access` and `tenants.services` (both write through `audit_record`), so it lives
outside the services package: importing it never pulls in the services that import the access
check.

What the chain proves: each event's `hash` is an HMAC-SHA256, keyed with settings.AUDIT_HMAC_KEY
(kept outside the database), over the previous event's hash and the event's recorded fields;
each chain's head (AuditChainHead) carries an HMAC over its tip. Someone who can write the
database but does not hold the key cannot alter, insert, delete or reorder events, nor cut the
newest ones off, without `verify_audit_log` naming the first bad link. Not covered (needs a copy
outside the database, see docs): replacing a whole chain, head included, by an older copy of
itself, or deleting a chain and its head outright.

Events written before the keyed chain existed (plain SHA-256 links) keep verifying: migration
0002 recorded, in each head's MAC, the seq from which events are keyed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from portal.context import current_request
from tenants.actors import Actor
from tenants.models import AuditChainHead, AuditEvent, Tenant

GENESIS_HASH = "0" * 64
HEAD_MISMATCH_ACTION = "tenants.audit.head_mismatch"


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


def _audit_key() -> bytes:
    key = settings.AUDIT_HMAC_KEY
    if not key:
        raise RuntimeError("AUDIT_HMAC_KEY is not set: the audit chain cannot be written or verified")
    return key.encode()


def event_digest(event: AuditEvent, *, keyed: bool = True) -> str:
    """HMAC-SHA256 (or plain SHA-256 for legacy events) over the previous hash and a canonical
    JSON of the event's recorded fields.

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
    message = (event.prev_hash + body).encode()
    if not keyed:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


def head_mac(*, key: str, last_seq: int, last_hash: str, sealed_from_seq: int) -> str:
    """The HMAC that pins a chain's tip and its legacy/keyed boundary."""
    message = f"audit-head|{key}|{last_seq}|{last_hash}|{sealed_from_seq}".encode()
    return hmac.new(_audit_key(), message, hashlib.sha256).hexdigest()


def _head_mac_of(head: AuditChainHead) -> str:
    return head_mac(
        key=head.key, last_seq=head.last_seq, last_hash=head.last_hash, sealed_from_seq=head.sealed_from_seq
    )


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
        key = chain_key(tenant.pk if tenant else None)
        head, _ = AuditChainHead.objects.get_or_create(
            key=key, defaults={"mac": head_mac(key=key, last_seq=0, last_hash=GENESIS_HASH, sealed_from_seq=1)}
        )
        head = AuditChainHead.objects.select_for_update().get(pk=head.pk)
        if not hmac.compare_digest(head.mac, _head_mac_of(head)):
            # The head was changed behind the portal's back (e.g. the newest events cut off and
            # the tip moved back). Re-sealing it silently would launder that, and refusing every
            # write would stop the portal: record it, keyed, where verification will report it.
            _append(
                head,
                tenant=tenant,
                actor=Actor.system(label="audit chain"),
                action=HEAD_MISMATCH_ACTION,
                target=("tenants.auditchainhead", str(head.pk), key),
                changes={"head_seq": head.last_seq, "head_hash": head.last_hash},
                ctx=ctx,
            )
        event = _append(
            head,
            tenant=tenant,
            actor=actor,
            action=action,
            target=(target_type, target_id, target_repr),
            changes=data,
            ctx=ctx,
        )
    return event


def _append(
    head: AuditChainHead,
    *,
    tenant: Tenant | None,
    actor: Actor,
    action: str,
    target: tuple[str, str, str],
    changes: Any,
    ctx: Any,
) -> AuditEvent:
    """Write one event after `head` (locked by the caller) and move the head, re-MACed."""
    event = AuditEvent(
        tenant=tenant,
        seq=head.last_seq + 1,
        prev_hash=head.last_hash,
        actor=actor.user if actor.user is not None and actor.user.pk else None,
        actor_token=actor.token,
        actor_type=actor.type,
        actor_label=actor.label[:255],
        action=action,
        target_type=target[0],
        target_id=target[1],
        target_repr=target[2],
        changes=changes,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        created_at=timezone.now(),
    )
    event.hash = event_digest(event, keyed=event.seq >= head.sealed_from_seq)
    event.save()
    head.last_seq = event.seq
    head.last_hash = event.hash
    head.mac = _head_mac_of(head)
    head.save(update_fields=["last_seq", "last_hash", "mac"])
    return event


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    event_id: int
    reason: str


def audit_verify_chain(*, tenant_id: int | None) -> ChainBreak | None:
    """Recompute one chain from its first event and check its head; return the first broken link."""
    events = AuditEvent.objects.all_tenants()
    qs = (events.filter(tenant_id=tenant_id) if tenant_id is not None else events.filter(tenant__isnull=True)).order_by(
        "seq"
    )
    key = chain_key(tenant_id)
    head = AuditChainHead.objects.filter(key=key).first()
    if head is not None and not hmac.compare_digest(head.mac, _head_mac_of(head)):
        return ChainBreak(key, head.last_seq, 0, "the chain head was altered (its MAC does not match)")
    sealed_from = head.sealed_from_seq if head is not None else 1
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last_id = 0
    for event in qs.iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainBreak(key, expected_seq, event.pk, f"event #{expected_seq} is missing (found #{event.seq})")
        if event.prev_hash != expected_prev:
            return ChainBreak(key, event.seq, event.pk, "prev_hash does not match the previous event's hash")
        if not hmac.compare_digest(event_digest(event, keyed=event.seq >= sealed_from), event.hash):
            return ChainBreak(key, event.seq, event.pk, "content does not match its hash (row was altered)")
        if event.action == HEAD_MISMATCH_ACTION:
            return ChainBreak(
                key,
                event.seq,
                event.pk,
                "the chain head had been altered when this event was appended "
                f"(it said #{event.changes.get('head_seq')}): events before it were cut off or rewritten",
            )
        expected_prev = event.hash
        expected_seq += 1
        last_id = event.pk
    if head is None:
        if expected_seq > 1:
            return ChainBreak(key, expected_seq - 1, last_id, "the chain head is missing")
        return None
    if head.last_seq != expected_seq - 1:
        return ChainBreak(
            key, expected_seq, 0, f"chain head says {head.last_seq} events but {expected_seq - 1} were found"
        )
    if head.last_hash != expected_prev:
        return ChainBreak(
            key, head.last_seq, last_id, "the newest event's hash does not match the chain head (it was rewritten)"
        )
    return None


def audit_chain_heads() -> list[AuditChainHead]:
    """Every chain's head (seq and hash of its newest event), for copies kept outside the database."""
    return list(AuditChainHead.objects.order_by("key"))


def audit_verify_all() -> list[ChainBreak]:
    tenant_ids: list[int | None] = list(Tenant.objects.values_list("pk", flat=True))
    return [b for tid in [None, *tenant_ids] if (b := audit_verify_chain(tenant_id=tid)) is not None]
