"""Console pages through Django's test client: access rules and bad input (the browser suite does
the happy paths)."""

from __future__ import annotations

import pytest

from tenants.models import ApiToken, Membership
from tests.tenants.helpers import events, membership_snapshot

PAGES = ["", "members/", "tokens/", "audit/", "audit/export.csv"]


@pytest.fixture
def as_user(client):
    def login(membership_or_user):
        client.force_login(getattr(membership_or_user, "user", membership_or_user))
        return client

    return login


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(db, client, page):
    resp = client.get(f"/t/acme/{page}")
    assert resp.status_code == 302 and resp["Location"].startswith("/login/?next=/t/acme/")


@pytest.mark.parametrize("page", PAGES)
def test_unknown_tenant_and_outsider_get_404(owner_a, owner_b, outsider, as_user, page):
    client = as_user(owner_a)
    for slug in ("nope", "globex"):
        resp = client.get(f"/t/{slug}/{page}")
        assert resp.status_code == 404, (slug, page)
        assert b"<h1>Not found</h1>" in resp.content
    assert as_user(outsider).get(f"/t/acme/{page}").status_code == 404


def test_home_without_memberships_explains_why(outsider, as_user):
    resp = as_user(outsider).get("/")
    assert resp.status_code == 403 and b"not a member of any tenant" in resp.content


def test_home_redirects_to_the_first_tenant(owner_a, as_user):
    resp = as_user(owner_a).get("/")
    assert resp.status_code == 302 and resp["Location"] == "/t/acme/"


@pytest.mark.parametrize("page", ["audit/", "audit/export.json"])
def test_viewer_gets_403_on_admin_pages_and_it_is_audited(viewer_a, as_user, page):
    resp = as_user(viewer_a).get(f"/t/acme/{page}")
    assert resp.status_code == 403
    assert b"does not allow &#x27;audit.view&#x27;" in resp.content
    assert events("tenants.permission.denied", viewer_a.tenant)[-1].changes["path"] == f"/t/acme/{page}"


def test_viewer_cannot_post_to_members(viewer_a, as_user):
    before = membership_snapshot()
    resp = as_user(viewer_a).post("/t/acme/members/", {"op": "add", "email": "x@acme.test", "role": "viewer"})
    assert resp.status_code == 403
    assert membership_snapshot() == before


def _messages(resp) -> list[str]:
    return [str(m) for m in resp.context["messages"]]


def test_members_page_reports_refusals_as_messages(owner_a, admin_a, as_user):
    client = as_user(admin_a)
    before = membership_snapshot()
    resp = client.post("/t/acme/members/", {"op": "role", "membership_id": owner_a.pk, "role": "viewer"}, follow=True)
    assert any("above your own" in m for m in _messages(resp))
    resp = client.post("/t/acme/members/", {"op": "role", "membership_id": "abc", "role": "viewer"}, follow=True)
    assert _messages(resp) == ["Invalid member."]
    resp = client.post("/t/acme/members/", {"op": "remove", "membership_id": 999999}, follow=True)
    assert _messages(resp) == ["Member not found."]
    assert membership_snapshot() == before
    resp = as_user(owner_a).post(
        "/t/acme/members/", {"op": "role", "membership_id": owner_a.pk, "role": "admin"}, follow=True
    )
    assert any("last owner" in m for m in _messages(resp))
    resp = client.post("/t/acme/members/", {"op": "add", "email": "new@acme.test", "role": "editor"}, follow=True)
    assert _messages(resp) == ["Member added."]
    assert Membership.objects.for_tenant(owner_a.tenant).filter(user__email="new@acme.test", role="editor").exists()


def test_tokens_page_bad_input(editor_a, as_user):
    client = as_user(editor_a)
    cases = [
        ({"name": "", "scopes": ["read"]}, "Give the token a name"),
        ({"name": "x", "scopes": ["deploy"]}, "cannot hold the scopes deploy"),
        ({"name": "x", "scopes": []}, "at least one scope"),
        ({"name": "x", "scopes": ["read"], "expires_days": "soon"}, "whole number of days"),
        ({"name": "x", "scopes": ["read"], "allowed_ips": "10.0.0.0/8 nope"}, "'nope' is not a valid IP"),
        ({"op": "revoke", "token_id": "999999"}, "Token not found."),
    ]
    for data, message in cases:
        resp = client.post("/t/acme/tokens/", data, follow=True)
        assert resp.status_code == 200
        assert any(message in m for m in _messages(resp)), (data, _messages(resp))
        assert b'data-testid="token-secret"' not in resp.content
    assert not ApiToken.objects.for_tenant(editor_a.tenant).exists()


def test_members_cannot_revoke_each_others_tokens_in_the_console(editor_a, viewer_a, make_token, as_user):
    make_token(viewer_a)
    token = ApiToken.objects.for_tenant(viewer_a.tenant).get()
    resp = as_user(editor_a).post("/t/acme/tokens/", {"op": "revoke", "token_id": token.pk}, follow=True)
    assert any("does not allow 'tokens.manage'" in m for m in _messages(resp)), _messages(resp)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_audit_page_htmx_returns_only_the_rows(owner_a, as_user, make_token):
    make_token(owner_a)
    client = as_user(owner_a)
    full = client.get("/t/acme/audit/", {"action": "tenants.apitoken."})
    fragment = client.get("/t/acme/audit/", {"action": "tenants.apitoken."}, HTTP_HX_REQUEST="true")
    assert b"<html" in full.content and b"<html" not in fragment.content
    assert b"tenants.apitoken.created" in fragment.content
    assert b"/t/acme/audit/export.csv?action=tenants.apitoken." in fragment.content
    bad = client.get("/t/acme/audit/", {"since": "not-a-date"})
    assert bad.status_code == 200 and b"tenants.apitoken.created" in bad.content  # ignored, no crash
