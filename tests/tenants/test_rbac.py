"""RBAC: the capability matrix, token scopes, and the role-granting rules enforced by services."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenants.models import Membership
from tenants.permissions import (
    CAPABILITIES,
    ROLE_RANK,
    SCOPE_MIN_ROLE,
    Role,
    UnknownCapability,
    membership_has_capability,
)
from tests.factories.tenants import MembershipFactory, UserFactory
from tests.tenants.helpers import events, membership_snapshot

DOC = Path(__file__).resolve().parents[2] / "docs" / "rbac.md"


def can(role: str, capability: str, scopes: list[str] | None = None) -> bool:
    return membership_has_capability(membership=Membership(role=role), capability=capability, token_scopes=scopes)


# -- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "capability", "expected"),
    [
        ("viewer", "tenant.view", True),
        ("viewer", "documents.read", True),
        ("viewer", "qa.ask", True),
        ("viewer", "tokens.create", True),
        ("viewer", "documents.upload", False),
        ("viewer", "members.manage", False),
        ("editor", "documents.upload", True),
        ("editor", "deploy.plan", True),
        ("editor", "audit.view", False),
        ("editor", "deploy.rollout", False),
        ("editor", "experiments.manage", False),
        ("admin", "audit.view", True),
        ("admin", "members.manage", True),
        ("admin", "deploy.rollout", True),
        ("admin", "tokens.manage", True),
        ("owner", "tenant.settings", True),
        ("owner", "models.promote", True),
    ],
)
def test_role_matrix(role, capability, expected):
    assert can(role, capability) is expected


def test_higher_roles_keep_every_capability_of_lower_roles():
    roles = sorted(ROLE_RANK, key=ROLE_RANK.__getitem__)
    for capability in CAPABILITIES:
        allowed = [can(r, capability) for r in roles]
        # once allowed, allowed for every higher role: [False.., True..]
        assert allowed == sorted(allowed), (capability, dict(zip(roles, allowed, strict=True)))
        assert allowed[-1], f"not even the owner has {capability}"


def test_unknown_capability_raises_and_no_membership_is_denied():
    with pytest.raises(UnknownCapability):
        can("owner", "documents.teleport")
    assert membership_has_capability(membership=None, capability="tenant.view") is False


@pytest.mark.parametrize(
    ("role", "scopes", "capability", "expected"),
    [
        ("viewer", ["read"], "documents.read", True),
        ("viewer", ["qa"], "qa.ask", True),
        ("viewer", ["qa"], "documents.read", False),  # qa does not imply read
        ("viewer", ["recommend"], "recs.query", True),
        ("viewer", ["recommend"], "catalog.read", False),
        ("editor", ["read"], "documents.upload", False),  # role allows it, the token does not
        ("editor", ["write"], "documents.upload", True),
        ("editor", ["write"], "documents.read", True),  # write implies read
        ("admin", ["deploy"], "deploy.rollout", True),
        ("admin", ["deploy"], "deploy.read", True),  # deploy implies read
        ("admin", ["deploy"], "deploy.plan", False),  # ... but not write
        ("admin", ["admin"], "deploy.rollout", True),  # admin implies everything
        ("admin", ["admin"], "documents.upload", True),
        ("admin", ["admin"], "recs.query", True),
        ("admin", ["read", "qa"], "members.manage", False),
        ("viewer", ["read", "write", "admin"], "documents.upload", False),  # role caps the token
        ("editor", [], "documents.read", False),
        ("editor", ["no-such-scope"], "documents.read", False),
    ],
)
def test_token_scopes(role, scopes, capability, expected):
    assert can(role, capability, scopes) is expected


def test_a_demoted_members_token_shrinks_with_the_role():
    scopes = ["read", "write", "admin"]
    assert can("admin", "members.manage", scopes)
    assert can("admin", "documents.upload", scopes)
    # Demoted to editor: the admin scope no longer grants anything; write still does.
    assert not can("editor", "members.manage", scopes)
    assert not can("editor", "tenant.settings", scopes)
    assert can("editor", "documents.upload", scopes)
    # Only admin scope: an editor's old admin token grants nothing, not even reads.
    assert not can("editor", "documents.read", ["admin"])
    # Demoted to viewer: reading only.
    assert can("viewer", "documents.read", scopes)
    assert not can("viewer", "documents.upload", scopes)


def test_demoted_members_token_shrinks_through_the_api(owner_a, admin_a, make_token, api):
    token = make_token(admin_a, ["read", "admin"])
    assert api(token).get("/api/v1/audit-events/").status_code == 200
    resp = api(user=owner_a.user, tenant="acme").patch(
        f"/api/v1/members/{admin_a.pk}/", {"role": "editor"}, format="json"
    )
    assert resp.status_code == 200, resp.content
    denied = api(token).get("/api/v1/audit-events/")
    assert denied.status_code == 403, denied.content
    assert api(token).get("/api/v1/members/").status_code == 200  # read is within an editor's role


def test_scope_min_roles_are_known_roles():
    assert set(SCOPE_MIN_ROLE.values()) <= set(Role.values)
    assert {scope for _, scope in CAPABILITIES.values()} <= set(SCOPE_MIN_ROLE)


# -- nobody grants a role above their own ----------------------------------------------------------


def _assert_denied(resp, tenant, reason_part: str, before: list) -> None:
    assert resp.status_code == 403, resp.content
    body = resp.json()
    assert body["code"] == "permission_denied" and body["detail"], body
    denials = events("tenants.permission.denied", tenant)
    assert denials, "a refused attempt must be audited"
    assert reason_part in denials[-1].changes["reason"], denials[-1].changes
    assert membership_snapshot() == before, "a refused attempt must change nothing"


def test_editor_cannot_make_itself_admin(editor_a, api):
    before = membership_snapshot()
    resp = api(user=editor_a.user, tenant="acme").patch(
        f"/api/v1/members/{editor_a.pk}/", {"role": "admin"}, format="json"
    )
    _assert_denied(resp, editor_a.tenant, "members.manage", before)
    assert events("tenants.permission.denied", editor_a.tenant)[-1].actor == editor_a.user


def test_admin_cannot_create_an_owner(admin_a, api):
    before = membership_snapshot()
    resp = api(user=admin_a.user, tenant="acme").post(
        "/api/v1/members/", {"email": "new@acme.test", "role": "owner"}, format="json"
    )
    _assert_denied(resp, admin_a.tenant, "role escalation", before)
    assert "above your own role" in resp.json()["detail"]
    assert events("tenants.permission.denied", admin_a.tenant)[-1].changes["attempted_role"] == "owner"


def test_admin_cannot_demote_or_remove_an_owner(owner_a, admin_a, api):
    client = api(user=admin_a.user, tenant="acme")
    before = membership_snapshot()
    resp = client.patch(f"/api/v1/members/{owner_a.pk}/", {"role": "viewer"}, format="json")
    _assert_denied(resp, owner_a.tenant, "ranked above", before)
    resp = client.delete(f"/api/v1/members/{owner_a.pk}/")
    _assert_denied(resp, owner_a.tenant, "role escalation", before)
    assert len(events("tenants.permission.denied", owner_a.tenant)) == 2


def test_admin_may_grant_up_to_its_own_role(admin_a, editor_a, api):
    client = api(user=admin_a.user, tenant="acme")
    resp = client.post("/api/v1/members/", {"email": "Peer@Acme.test", "role": "admin"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["role"] == "admin" and resp.json()["email"] == "peer@acme.test"
    resp = client.patch(f"/api/v1/members/{editor_a.pk}/", {"role": "viewer"}, format="json")
    assert resp.status_code == 200 and resp.json()["role"] == "viewer"
    editor_a.refresh_from_db()
    assert editor_a.role == "viewer"
    updated = events("tenants.membership.updated", admin_a.tenant)
    assert updated[-1].changes == {"role": ["editor", "viewer"]}


def test_unknown_role_is_a_clear_400(admin_a, api):
    resp = api(user=admin_a.user, tenant="acme").post(
        "/api/v1/members/", {"email": "x@acme.test", "role": "god"}, format="json"
    )
    assert resp.status_code == 400
    assert resp.json()["detail"].startswith("role:")


# -- the last owner ------------------------------------------------------------------------------


def test_last_owner_cannot_leave(owner_a, api):
    before = membership_snapshot()
    resp = api(user=owner_a.user, tenant="acme").post("/api/v1/members/leave/", {}, format="json")
    assert resp.status_code == 400, resp.content
    assert "last owner" in resp.json()["detail"]
    assert membership_snapshot() == before


def test_last_owner_cannot_demote_itself(owner_a, api):
    resp = api(user=owner_a.user, tenant="acme").patch(
        f"/api/v1/members/{owner_a.pk}/", {"role": "admin"}, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert "last owner" in resp.json()["detail"]
    owner_a.refresh_from_db()
    assert owner_a.role == "owner"


def test_an_owner_may_leave_when_another_owner_remains(owner_a, tenant_a, api):
    second = MembershipFactory(tenant=tenant_a, role="owner", user=UserFactory(username="owner2@acme.test"))
    resp = api(user=owner_a.user, tenant="acme").post("/api/v1/members/leave/", {}, format="json")
    assert resp.status_code == 204, resp.content
    assert not Membership.objects.for_tenant(tenant_a).filter(pk=owner_a.pk).exists()
    # ... and now the remaining owner is the last one.
    resp = api(user=second.user, tenant="acme").post("/api/v1/members/leave/", {}, format="json")
    assert resp.status_code == 400
    assert events("tenants.membership.deleted", tenant_a)[-1].changes["role"] == ["owner", None]


def test_a_viewer_may_leave(viewer_a, api):
    resp = api(user=viewer_a.user, tenant="acme").post("/api/v1/members/leave/", {}, format="json")
    assert resp.status_code == 204
    assert not Membership.objects.for_tenant(viewer_a.tenant).filter(user=viewer_a.user).exists()


# -- one user, two tenants -----------------------------------------------------------------------


def test_user_in_two_tenants_has_a_role_per_tenant(owner_a, owner_b, tenant_b, api):
    MembershipFactory(tenant=tenant_b, user=owner_a.user, role="viewer")
    acme = api(user=owner_a.user, tenant="acme").get("/api/v1/me/").json()
    globex = api(user=owner_a.user, tenant="globex").get("/api/v1/me/").json()
    assert (acme["tenant"]["slug"], acme["role"]) == ("acme", "owner")
    assert (globex["tenant"]["slug"], globex["role"]) == ("globex", "viewer")
    before = membership_snapshot()
    resp = api(user=owner_a.user, tenant="globex").post(
        "/api/v1/members/", {"email": "x@globex.test", "role": "viewer"}, format="json"
    )
    _assert_denied(resp, tenant_b, "members.manage", before)
    # The denial lands in globex's chain, not acme's.
    assert not events("tenants.permission.denied", owner_a.tenant)


# -- docs/rbac.md is generated from CAPABILITIES ---------------------------------------------------


def capability_table() -> str:
    """The markdown table docs/rbac.md must contain (regenerate the doc from this on failure)."""
    lines = ["| Capability | Lowest role | Token scope |", "|---|---|---|"]
    lines += [f"| `{cap}` | {role} | `{scope}` |" for cap, (role, scope) in CAPABILITIES.items()]
    return "\n".join(lines)


def test_rbac_doc_lists_exactly_the_capabilities():
    text = DOC.read_text().partition("## Capabilities")[2]
    assert text, "docs/rbac.md needs a '## Capabilities' section"
    rows = re.findall(r"^\| `([a-z._]+)` \| (\w+) \| `(\w+)` \|$", text, flags=re.MULTILINE)
    documented = {cap: (role, scope) for cap, role, scope in rows}
    assert len(rows) == len(documented), "a capability is listed twice"
    expected = {cap: (str(role), str(scope)) for cap, (role, scope) in CAPABILITIES.items()}
    assert documented == expected, f"docs/rbac.md is stale; its table must be:\n{capability_table()}"
    assert capability_table() in text
