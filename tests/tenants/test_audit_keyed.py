"""The keyed audit chain: HMAC links with a key outside the database, and a MACed chain head.

The attacker here can run any SQL against the database but does not hold settings.AUDIT_HMAC_KEY.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from tenants.actors import Actor
from tenants.audit import GENESIS_HASH, HEAD_MISMATCH_ACTION, audit_record, audit_verify_chain, event_digest
from tenants.models import AuditChainHead, AuditEvent

seal_migration = importlib.import_module("tenants.migrations.0002_audit_hmac_chain")


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _event(pk: int) -> AuditEvent:
    return AuditEvent.objects.all_tenants().get(pk=pk)


def _plain_sha256(event: AuditEvent) -> str:
    """What an attacker without the key can compute: the old, unkeyed link."""
    return event_digest(event, keyed=False)


@pytest.fixture
def chain(tenant_a):
    return [
        audit_record(tenant=tenant_a, actor=Actor.system(), action=f"tests.thing.step{i}", target=("t", str(i), "x"))
        for i in range(1, 6)
    ]


def _head(tenant) -> AuditChainHead:
    return AuditChainHead.objects.get(key=f"tenant:{tenant.pk}")


def test_links_are_keyed(chain, settings):
    newest = _event(chain[-1].pk)
    assert newest.hash == event_digest(newest) != _plain_sha256(newest)
    assert audit_verify_chain(tenant_id=newest.tenant_id) is None
    settings.AUDIT_HMAC_KEY = "another-key-0123456789abcdef"  # the key is what makes the links verify
    brk = audit_verify_chain(tenant_id=newest.tenant_id)
    assert brk is not None and "head was altered" in brk.reason


def test_raw_sql_rewrite_of_the_newest_event_is_detected(chain):
    tenant_id = chain[0].tenant_id
    _raw("UPDATE tenants_auditevent SET action = %s WHERE id = %s", ["tests.thing.innocent", chain[-1].pk])
    brk = audit_verify_chain(tenant_id=tenant_id)
    assert brk is not None and brk.seq == 5 and "altered" in brk.reason


def test_rewriting_the_newest_event_with_a_recomputed_plain_hash_is_detected(chain):
    """The attack the unkeyed chain missed: rewrite the newest row and its sha256, nothing else."""
    tenant_id = chain[0].tenant_id
    forged = _event(chain[-1].pk)
    forged.action = "tests.thing.innocent"
    _raw(
        "UPDATE tenants_auditevent SET action = %s, hash = %s WHERE id = %s",
        [forged.action, _plain_sha256(forged), forged.pk],
    )
    brk = audit_verify_chain(tenant_id=tenant_id)
    assert brk is not None and brk.seq == 5 and "does not match its hash" in brk.reason
    with pytest.raises(CommandError, match=r"event #5"):
        call_command("verify_audit_log")


def test_recomputing_the_whole_chain_and_head_without_the_key_does_not_verify(chain):
    tenant = chain[0].tenant
    prev = GENESIS_HASH
    for original in chain:
        event = _event(original.pk)
        event.prev_hash = prev
        if event.seq == 3:
            event.changes = {"note": "rewritten"}
        event.hash = _plain_sha256(event)
        _raw(
            "UPDATE tenants_auditevent SET prev_hash = %s, hash = %s, changes = %s WHERE id = %s",
            [event.prev_hash, event.hash, json.dumps(event.changes), event.pk],
        )
        prev = event.hash
    _raw("UPDATE tenants_auditchainhead SET last_hash = %s WHERE key = %s", [prev, f"tenant:{tenant.pk}"])
    brk = audit_verify_chain(tenant_id=tenant.pk)
    assert brk is not None and "head was altered" in brk.reason
    # Even with the head's MAC left for last: the first rewritten link fails on its own.
    head = _head(tenant)
    _raw("UPDATE tenants_auditchainhead SET last_hash = %s WHERE key = %s", [chain[-1].hash, head.key])
    brk = audit_verify_chain(tenant_id=tenant.pk)
    assert brk is not None and brk.seq == 1 and "does not match its hash" in brk.reason


def test_cutting_off_the_newest_events_and_moving_the_head_back_is_detected(chain):
    tenant = chain[0].tenant
    _raw("DELETE FROM tenants_auditevent WHERE id IN (%s, %s)", [chain[3].pk, chain[4].pk])
    _raw(
        "UPDATE tenants_auditchainhead SET last_seq = %s, last_hash = %s WHERE key = %s",
        [3, chain[2].hash, f"tenant:{tenant.pk}"],
    )
    brk = audit_verify_chain(tenant_id=tenant.pk)
    assert brk is not None and "head was altered" in brk.reason
    # The next write does not launder the forged head: it records the mismatch, keyed.
    audit_record(tenant=tenant, actor=Actor.system(), action="tests.thing.after")
    mismatch = AuditEvent.objects.for_tenant(tenant).get(action=HEAD_MISMATCH_ACTION)
    assert mismatch.seq == 4 and mismatch.changes == {"head_seq": 3, "head_hash": chain[2].hash}
    brk = audit_verify_chain(tenant_id=tenant.pk)
    assert brk is not None and brk.seq == 4 and "cut off or rewritten" in brk.reason
    assert AuditEvent.objects.for_tenant(tenant).filter(action="tests.thing.after").exists()  # writes go on


def test_a_chain_whose_head_was_deleted_is_reported(chain):
    _raw("DELETE FROM tenants_auditchainhead WHERE key = %s", [f"tenant:{chain[0].tenant_id}"])
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert brk is not None and "head is missing" in brk.reason


# -- chains written before the key existed ---------------------------------------------------------


@pytest.fixture
def legacy_chain(tenant_a):
    """Three events hashed the old way (plain SHA-256) under a head as migration 0001 left it,
    then migration 0002's sealing step, then two keyed events."""
    key = f"tenant:{tenant_a.pk}"
    prev = GENESIS_HASH
    legacy = []
    for seq in (1, 2, 3):
        event = AuditEvent(
            tenant=tenant_a,
            seq=seq,
            prev_hash=prev,
            actor_type="system",
            actor_label="system",
            action=f"tests.legacy.step{seq}",
            created_at=chain_time(seq),
        )
        event.hash = _plain_sha256(event)
        event.save()
        legacy.append(event)
        prev = event.hash
    AuditChainHead.objects.create(key=key, last_seq=3, last_hash=prev)  # no MAC, sealed_from_seq=1
    seal_migration.seal_existing_heads(apps, None)
    keyed = [audit_record(tenant=tenant_a, actor=Actor.system(), action=f"tests.keyed.step{i}") for i in (4, 5)]
    return legacy, keyed


def chain_time(seq: int) -> dt.datetime:
    return dt.datetime(2025, 1, 1, 12, 0, seq, tzinfo=dt.UTC)


def test_events_written_before_the_key_still_verify(legacy_chain):
    legacy, keyed = legacy_chain
    head = _head(legacy[0].tenant)
    assert head.sealed_from_seq == 4 and head.last_seq == 5
    assert keyed[0].prev_hash == legacy[-1].hash and keyed[0].hash == event_digest(keyed[0])
    assert audit_verify_chain(tenant_id=legacy[0].tenant_id) is None
    call_command("verify_audit_log")


def test_legacy_events_are_pinned_by_the_first_keyed_event(legacy_chain):
    legacy, _ = legacy_chain
    prev = GENESIS_HASH
    for original in legacy:  # rewrite a legacy event and re-link every legacy event after it
        event = _event(original.pk)
        event.prev_hash = prev
        if event.seq == 2:
            event.action = "tests.legacy.innocent"
        event.hash = _plain_sha256(event)
        _raw(
            "UPDATE tenants_auditevent SET prev_hash = %s, hash = %s, action = %s WHERE id = %s",
            [event.prev_hash, event.hash, event.action, event.pk],
        )
        prev = event.hash
    brk = audit_verify_chain(tenant_id=legacy[0].tenant_id)
    assert brk is not None and brk.seq == 4 and "prev_hash" in brk.reason


def test_the_legacy_boundary_cannot_be_moved(legacy_chain):
    """Declaring keyed events legacy (so plain hashes would pass) breaks the head's MAC."""
    legacy, _ = legacy_chain
    _raw("UPDATE tenants_auditchainhead SET sealed_from_seq = %s WHERE key = %s", [99, _head(legacy[0].tenant).key])
    brk = audit_verify_chain(tenant_id=legacy[0].tenant_id)
    assert brk is not None and "head was altered" in brk.reason


def test_verify_audit_log_can_print_the_heads_to_keep_elsewhere(chain, capsys):
    call_command("verify_audit_log", "--show-heads")
    out = capsys.readouterr().out
    head = _head(chain[0].tenant)
    assert f"tenant:{chain[0].tenant_id} seq=5 hash={head.last_hash}" in out
