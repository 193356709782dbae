"""The audit log: written in the service's transaction, hash-chained, append-only, read-only views."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, Tenant
from tenants.services import (
    audit_record,
    audit_verify_chain,
    membership_add,
    membership_change_role,
    membership_remove,
    tenant_create,
    token_create,
    token_revoke,
)
from tenants.services import tenancy as tenancy_module
from tenants.services import tokens as tokens_module
from tests.factories.tenants import UserFactory
from tests.tenants.helpers import event_count, events

# -- same transaction ------------------------------------------------------------------------------


class Boom(Exception):
    pass


def _failing_audit(*args, **kwargs):
    raise Boom("audit store down")


def test_role_change_is_rolled_back_when_its_audit_write_fails(owner_a, editor_a, monkeypatch):
    before = event_count()
    monkeypatch.setattr(tenancy_module, "audit_record", _failing_audit)
    with pytest.raises(Boom):
        membership_change_role(
            tenant=owner_a.tenant,
            actor=Actor.for_user(owner_a.user, owner_a),
            membership=editor_a,
            role="viewer",
        )
    editor_a.refresh_from_db()
    assert editor_a.role == "editor"
    assert event_count() == before


def test_member_add_and_remove_are_rolled_back_when_their_audit_write_fails(owner_a, editor_a, monkeypatch):
    actor = Actor.for_user(owner_a.user, owner_a)
    before = event_count()
    monkeypatch.setattr(tenancy_module, "audit_record", _failing_audit)
    with pytest.raises(Boom):
        membership_add(tenant=owner_a.tenant, actor=actor, email="new@acme.test", role="viewer")
    with pytest.raises(Boom):
        membership_remove(tenant=owner_a.tenant, actor=actor, membership=editor_a)
    assert sorted(Membership.objects.for_tenant(owner_a.tenant).values_list("user__username", flat=True)) == [
        "editor@acme.test",
        "owner@acme.test",
    ]
    assert event_count() == before


def test_token_create_and_revoke_are_rolled_back_when_their_audit_write_fails(admin_a, monkeypatch):
    actor = Actor.for_user(admin_a.user, admin_a)
    issued = token_create(tenant=admin_a.tenant, actor=actor, membership=admin_a, name="keep", scopes=["read"])
    before = event_count()
    monkeypatch.setattr(tokens_module, "audit_record", _failing_audit)
    with pytest.raises(Boom):
        token_create(tenant=admin_a.tenant, actor=actor, membership=admin_a, name="lost", scopes=["read"])
    with pytest.raises(Boom):
        token_revoke(tenant=admin_a.tenant, actor=actor, token=issued.token)
    tokens = list(admin_a.api_tokens.values_list("name", "revoked_at"))
    assert tokens == [("keep", None)]
    assert event_count() == before


def test_a_failure_after_the_audit_write_discards_both(db, monkeypatch):
    """tenant_create audits the tenant, then fails saving the owner: neither the tenant nor the
    already-written event survives."""
    owner = UserFactory(username="o@new.test")

    def broken_save(self, *args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(Membership, "save", broken_save)
    with pytest.raises(Boom):
        tenant_create(actor=Actor.system(), slug="newco", name="NewCo", owner=owner)
    assert not Tenant.objects.filter(slug="newco").exists()
    assert not AuditEvent.objects.all_tenants().filter(action="tenants.tenant.created").exists()


def test_tenant_create_writes_its_events(db):
    owner = UserFactory(username="o@new.test")
    tenant = tenant_create(actor=Actor.system(label="test"), slug="newco", name="NewCo", owner=owner)
    actions = [e.action for e in AuditEvent.objects.for_tenant(tenant).order_by("seq")]
    assert actions == ["tenants.tenant.created", "tenants.membership.created"]
    assert Membership.objects.for_tenant(tenant).get().role == "owner"


# -- the hash chain --------------------------------------------------------------------------------


@pytest.fixture
def chain(tenant_a):
    """Five events in acme's chain; returns them in order."""
    return [
        audit_record(tenant=tenant_a, actor=Actor.system(), action=f"tests.thing.step{i}", target=("t", str(i), "x"))
        for i in range(1, 6)
    ]


def test_chain_links_and_verifies(chain, capsys):
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    assert audit_verify_chain(tenant_id=chain[0].tenant_id) is None
    call_command("verify_audit_log")
    assert "every chain verifies" in capsys.readouterr().out


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_tampering_with_a_row_is_detected(chain, capsys):
    _raw("UPDATE tenants_auditevent SET action = %s WHERE id = %s", ["tests.thing.innocent", chain[2].pk])
    with pytest.raises(CommandError, match=r"event #3"):
        call_command("verify_audit_log")
    assert f"tenant:{chain[0].tenant_id}: first bad link is event #3" in capsys.readouterr().err
    with pytest.raises(CommandError, match=r"event #3"):
        call_command("verify_audit_log", "--tenant", "acme")


def test_tampering_with_changes_json_is_detected(chain):
    _raw("UPDATE tenants_auditevent SET changes = %s WHERE id = %s", [json.dumps({"x": 1}), chain[0].pk])
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert brk is not None and brk.seq == 1 and "altered" in brk.reason


def test_recomputing_the_hash_of_a_tampered_row_breaks_the_next_link(chain):
    """A forger who also rewrites the row's hash is caught by the next event's prev_hash."""
    _raw("UPDATE tenants_auditevent SET action = %s, hash = %s WHERE id = %s", ["x", "f" * 64, chain[1].pk])
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert brk is not None and brk.seq == 2  # the row itself no longer matches its hash
    _raw("UPDATE tenants_auditevent SET action = %s WHERE id = %s", [chain[1].action, chain[1].pk])
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert brk is not None and brk.seq == 2


def test_deleting_a_row_in_the_middle_is_detected(chain):
    _raw("DELETE FROM tenants_auditevent WHERE id = %s", [chain[2].pk])
    with pytest.raises(CommandError, match=r"event #3"):
        call_command("verify_audit_log")
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert "event #3 is missing" in brk.reason


def test_deleting_the_last_row_is_detected(chain):
    _raw("DELETE FROM tenants_auditevent WHERE id = %s", [chain[-1].pk])
    brk = audit_verify_chain(tenant_id=chain[0].tenant_id)
    assert brk is not None and "chain head says 5 events but 4 were found" in brk.reason


def test_chains_are_per_tenant(chain, tenant_b):
    other = audit_record(tenant=tenant_b, actor=Actor.system(), action="tests.thing.created")
    platform = audit_record(tenant=None, actor=Actor.system(), action="tests.thing.created")
    assert other.seq == 1 and other.prev_hash == "0" * 64
    assert platform.tenant_id is None and platform.seq >= 1
    _raw("UPDATE tenants_auditevent SET action = %s WHERE id = %s", ["x", chain[0].pk])
    assert audit_verify_chain(tenant_id=tenant_b.pk) is None
    assert audit_verify_chain(tenant_id=None) is None


def test_chain_survives_deleting_the_users_and_tokens_it_names(owner_a, admin_a, make_token, api):
    """Actor FKs are SET_NULL: removing a member (cascading to their tokens) or deleting a user
    must not make the recorded history fail verification."""
    token = make_token(admin_a, ["read", "admin"])
    assert (
        api(token).post("/api/v1/tokens/", {"name": "via-token", "scopes": ["read"]}, format="json").status_code == 201
    )
    via_token = events("tenants.apitoken.created", admin_a.tenant)[-1]
    assert via_token.actor_token_id is not None and via_token.actor_id == admin_a.user_id
    membership_remove(tenant=admin_a.tenant, actor=Actor.for_user(owner_a.user, owner_a), membership=admin_a)
    admin_a.user.delete()
    via_token.refresh_from_db()
    assert via_token.actor_token_id is None and via_token.actor_id is None
    assert "admin@acme.test via token llmp_" in via_token.actor_label  # the identity is kept here
    call_command("verify_audit_log")


# -- append-only ---------------------------------------------------------------------------------


def test_orm_update_delete_and_resave_are_refused(chain):
    tenant = chain[0].tenant
    with pytest.raises(PermissionError):
        AuditEvent.objects.for_tenant(tenant).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all_tenants().filter(pk=chain[0].pk).delete()
    event = AuditEvent.objects.for_tenant(tenant).get(pk=chain[0].pk)
    event.action = "x"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError), transaction.atomic():  # bulk_update opens no savepoint
        AuditEvent.objects.all_tenants().bulk_update([event], ["action"])
    assert audit_verify_chain(tenant_id=tenant.pk) is None


def test_a_tenant_with_audit_history_cannot_be_deleted(chain):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        chain[0].tenant.delete()


# -- admin -----------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, db):
    user = UserFactory(username="root@platform.test", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_admin_audit_log_is_read_only(chain, superuser_client):
    from django.contrib import admin

    model_admin = admin.site._registry[AuditEvent]
    request = type("R", (), {"user": None})()
    assert model_admin.has_change_permission(request, chain[0]) is False
    assert model_admin.has_delete_permission(request, chain[0]) is False
    assert model_admin.has_add_permission(request) is False
    resp = superuser_client.get("/admin/tenants/auditevent/")
    assert resp.status_code == 200
    assert b"tests.thing.step3" in resp.content
    page = superuser_client.get(f"/admin/tenants/auditevent/{chain[0].pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert superuser_client.get("/admin/tenants/auditevent/add/").status_code == 403
    assert superuser_client.post(f"/admin/tenants/auditevent/{chain[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert audit_verify_chain(tenant_id=chain[0].tenant_id) is None


@pytest.mark.parametrize("path", ["tenant", "membership", "apitoken"])
def test_admin_changelists_load_across_tenants(path, superuser_client, owner_a, owner_b, make_token):
    make_token(owner_a)
    make_token(owner_b)
    resp = superuser_client.get(f"/admin/tenants/{path}/")
    assert resp.status_code == 200
    assert b"acme" in resp.content.lower() and b"globex" in resp.content.lower()


def test_admin_tenant_page_with_member_inline_loads(superuser_client, owner_a):
    resp = superuser_client.get(f"/admin/tenants/tenant/{owner_a.tenant.pk}/change/")
    assert resp.status_code == 200 and b"owner@acme.test" in resp.content


# -- API list, filters, export ---------------------------------------------------------------------


@pytest.fixture
def history(owner_a, admin_a, editor_a, api):
    """A mixed history in acme, some of it backdated (raw SQL, since the ORM refuses updates)."""
    admin = Actor.for_user(admin_a.user, admin_a)
    token_create(tenant=admin_a.tenant, actor=admin, membership=admin_a, name="t1", scopes=["read"])
    membership_change_role(tenant=admin_a.tenant, actor=admin, membership=editor_a, role="viewer")
    audit_record(
        tenant=admin_a.tenant,
        actor=Actor.system(),
        action="documents.document.deleted",
        target=("documents.document", "7", "report.pdf"),
    )
    old = audit_record(tenant=admin_a.tenant, actor=Actor.system(), action="tests.thing.old")
    _raw(
        "UPDATE tenants_auditevent SET created_at = %s WHERE id = %s",
        [timezone.now() - dt.timedelta(days=10), old.pk],
    )
    return {"client": api(user=admin_a.user, tenant="acme"), "admin": admin_a}


def _actions(resp) -> list[str]:
    assert resp.status_code == 200, resp.content
    return [row["action"] for row in resp.json()["results"]]


def test_api_lists_and_filters_the_audit_log(history):
    client, admin_a = history["client"], history["admin"]
    everything = _actions(client.get("/api/v1/audit-events/"))
    assert "tenants.apitoken.created" in everything and "tests.thing.old" in everything
    assert _actions(client.get("/api/v1/audit-events/", {"action": "tenants.apitoken.created"})) == [
        "tenants.apitoken.created"
    ]
    prefixed = _actions(client.get("/api/v1/audit-events/", {"action": "tenants."}))
    assert prefixed and all(a.startswith("tenants.") for a in prefixed)
    assert "documents.document.deleted" not in prefixed
    assert _actions(client.get("/api/v1/audit-events/", {"action": "tenants"})) == []  # exact unless it ends in "."
    by_id = _actions(client.get("/api/v1/audit-events/", {"actor": admin_a.user_id}))
    by_label = _actions(client.get("/api/v1/audit-events/", {"actor": "admin@ACME"}))
    assert sorted(by_id) == sorted(by_label) == ["tenants.apitoken.created", "tenants.membership.updated"]
    assert _actions(client.get("/api/v1/audit-events/", {"target_type": "documents.document"})) == [
        "documents.document.deleted"
    ]
    five_days_ago = (timezone.now() - dt.timedelta(days=5)).isoformat()
    recent = _actions(client.get("/api/v1/audit-events/", {"since": five_days_ago}))
    old = _actions(client.get("/api/v1/audit-events/", {"until": five_days_ago}))
    assert "tests.thing.old" not in recent and old == ["tests.thing.old"]
    assert set(recent) | set(old) == set(everything)
    bad = client.get("/api/v1/audit-events/", {"since": "yesterday"})
    assert bad.status_code == 400


def test_export_csv(history):
    resp = history["client"].get("/api/v1/audit-events/export/", {"fmt": "csv", "action": "tenants."})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert resp["Content-Disposition"] == 'attachment; filename="audit-acme.csv"'
    rows = list(csv.reader(io.StringIO(resp.content.decode())))
    assert rows[0][:3] == ["id", "seq", "created_at"] and "action" in rows[0] and "hash" in rows[0]
    actions = [dict(zip(rows[0], r, strict=True))["action"] for r in rows[1:]]
    assert "tenants.apitoken.created" in actions and all(a.startswith("tenants.") for a in actions)
    changes = [json.loads(dict(zip(rows[0], r, strict=True))["changes"]) for r in rows[1:]]
    assert {"role": ["editor", "viewer"]} in changes


def test_export_json(history):
    resp = history["client"].get("/api/v1/audit-events/export/", {"fmt": "json", "target_type": "documents.document"})
    assert resp.status_code == 200 and resp["Content-Type"] == "application/json"
    assert resp["Content-Disposition"] == 'attachment; filename="audit-acme.json"'
    rows = json.loads(resp.content)
    assert [r["action"] for r in rows] == ["documents.document.deleted"]
    assert rows[0]["target_repr"] == "report.pdf" and len(rows[0]["hash"]) == 64


def test_export_rejects_unknown_format(history):
    resp = history["client"].get("/api/v1/audit-events/export/", {"fmt": "xml"})
    assert resp.status_code == 400 and "fmt must be" in resp.json()["detail"]


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_non_admins_cannot_read_the_audit_log(role, owner_a, viewer_a, editor_a, api):
    member = {"viewer": viewer_a, "editor": editor_a}[role]
    client = api(user=member.user, tenant="acme")
    for url in ("/api/v1/audit-events/", "/api/v1/audit-events/export/?fmt=csv"):
        resp = client.get(url)
        assert resp.status_code == 403, (url, resp.content)
    assert len(events("tenants.permission.denied", owner_a.tenant, actor=member.user)) == 2


def test_an_admin_token_without_the_admin_scope_cannot_read_the_audit_log(admin_a, make_token, api):
    resp = api(make_token(admin_a, ["read", "write", "deploy"])).get("/api/v1/audit-events/")
    assert resp.status_code == 403
    assert "token's scopes do not allow 'audit.view'" in resp.json()["detail"]


# -- logins ----------------------------------------------------------------------------------------


def test_password_login_success_and_failure_are_audited(viewer_a, client):
    resp = client.post("/login/", {"username": "viewer@acme.test", "password": "wrong"}, REMOTE_ADDR="192.0.2.9")
    assert resp.status_code == 200 and b"didn't match" in resp.content
    failed = events("tenants.user.login_failed")
    assert len(failed) == 1 and failed[0].changes == {"username": "viewer@acme.test"}
    assert failed[0].actor_type == "anonymous" and failed[0].ip == "192.0.2.9" and failed[0].tenant_id is None
    assert "pw-correct-horse" not in str(failed[0].changes)

    resp = client.post("/login/", {"username": "viewer@acme.test", "password": "pw-correct-horse"})
    assert resp.status_code == 302
    ok = events("tenants.user.logged_in")
    assert len(ok) == 1 and ok[0].actor == viewer_a.user and ok[0].changes == {"method": "password"}
    assert audit_verify_chain(tenant_id=None) is None


def test_request_id_and_ip_are_recorded(admin_a, api):
    client = api(user=admin_a.user, tenant="acme")
    resp = client.post(
        "/api/v1/tokens/",
        {"name": "x", "scopes": ["read"]},
        format="json",
        HTTP_X_REQUEST_ID="req-abc-123",
        REMOTE_ADDR="198.51.100.4",
        HTTP_USER_AGENT="pytest-agent",
    )
    assert resp.status_code == 201 and resp["X-Request-ID"] == "req-abc-123"
    event = events("tenants.apitoken.created", admin_a.tenant)[-1]
    assert (event.request_id, event.ip, event.user_agent) == ("req-abc-123", "198.51.100.4", "pytest-agent")
    assert event.actor_type == "user" and event.actor_label == "admin@acme.test"
