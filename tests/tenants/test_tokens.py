"""API tokens: issuing, storage, authentication failures, allow-lists, last-use, tenancy, throttling."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants.models import ApiToken
from tests.tenants.helpers import events

TOKEN_RE = re.compile(r"^llmp_(?P<key_id>[0-9a-f]{12})\.(?P<secret>[A-Za-z0-9_-]{40,})$")


def _token_row(plaintext: str) -> ApiToken:
    key_id = TOKEN_RE.match(plaintext)["key_id"]
    return ApiToken.objects.all_tenants().get(key_id=key_id)


# -- issuing -------------------------------------------------------------------------------------


def test_create_via_api_shows_the_secret_once_and_stores_only_a_digest(admin_a, make_token, api):
    creator = make_token(admin_a, ["read", "admin"])
    resp = api(creator).post("/api/v1/tokens/", {"name": "ci", "scopes": ["read", "write"]}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    match = TOKEN_RE.match(body["token"])
    assert match, body["token"]
    key_id, secret = match["key_id"], match["secret"]
    assert body["prefix"] == f"llmp_{key_id}"
    assert body["scopes"] == ["read", "write"] and body["member"] == "admin@acme.test"

    row = ApiToken.objects.for_tenant(admin_a.tenant).get(pk=body["id"])
    expected = hmac.new(settings.TOKEN_HMAC_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert row.digest == expected
    stored = [str(v) for v in ApiToken.objects.for_tenant(admin_a.tenant).filter(pk=row.pk).values_list()[0]]
    assert not any(secret in v for v in stored), "the secret must not be stored"

    detail = api(creator).get(f"/api/v1/tokens/{row.pk}/")
    listing = api(creator).get("/api/v1/tokens/")
    assert detail.status_code == listing.status_code == 200
    for text in (detail.content.decode(), listing.content.decode()):
        assert secret not in text and '"token"' not in text
    # The new token works, and is what the API says it is.
    me = api(body["token"]).get("/api/v1/me/").json()
    assert me["auth"] == "token" and me["scopes"] == ["read", "write"]
    created = events("tenants.apitoken.created", admin_a.tenant)[-1]
    assert created.actor_type == "token" and secret not in str(created.changes)


def test_scopes_beyond_the_role_are_refused(editor_a, api):
    before = ApiToken.objects.for_tenant(editor_a.tenant).count()
    resp = api(user=editor_a.user, tenant="acme").post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read", "deploy"]}, format="json"
    )
    assert resp.status_code == 403, resp.content
    assert "cannot hold the scopes deploy" in resp.json()["detail"]
    assert ApiToken.objects.for_tenant(editor_a.tenant).count() == before
    assert events("tenants.permission.denied", editor_a.tenant)[-1].changes["scopes"] == ["deploy"]


def test_unknown_scope_and_bad_inputs_are_400(viewer_a, api):
    client = api(user=viewer_a.user, tenant="acme")
    assert client.post("/api/v1/tokens/", {"name": "x", "scopes": ["root"]}, format="json").status_code == 400
    assert client.post("/api/v1/tokens/", {"name": "x", "scopes": []}, format="json").status_code == 400
    past = (timezone.now() - dt.timedelta(days=1)).isoformat()
    resp = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"], "expires_at": past}, format="json")
    assert resp.status_code == 400 and "future" in resp.json()["detail"]
    resp = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"], "allowed_ips": ["nope"]}, format="json")
    assert resp.status_code == 400 and "'nope' is not a valid IP" in resp.json()["detail"]
    ok = client.post("/api/v1/tokens/", {"name": "mine", "scopes": ["read", "qa"]}, format="json")
    assert ok.status_code == 201, ok.content


# -- issuing for another member (issue #12: an admin became the owner) ----------------------------


def test_admin_cannot_issue_a_token_for_the_owner_or_another_admin(owner_a, admin_a, make_token, api):
    """The attack: an admin asked for an admin-scoped token bound to the owner's membership and
    got one whose /me/ said `role: owner`, then promoted themselves and demoted the owner."""
    from tests.factories.tenants import MembershipFactory, UserFactory

    other_admin = MembershipFactory(tenant=admin_a.tenant, role="admin", user=UserFactory(username="a2@acme.test"))
    attacker = api(make_token(admin_a, ["read", "admin"]))
    before = set(ApiToken.objects.for_tenant(admin_a.tenant).values_list("pk", flat=True))
    for target in (owner_a, other_admin):
        resp = attacker.post(
            "/api/v1/tokens/", {"name": "x", "scopes": ["admin"], "membership_id": target.pk}, format="json"
        )
        assert resp.status_code == 403, resp.content
        assert "only be issued for members ranked below you (admin)" in resp.json()["detail"]
    # ...nor through a session, nor with scopes the owner could hold but the admin's own role allows.
    session = api(user=admin_a.user, tenant="acme")
    resp = session.post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read"], "membership_id": owner_a.pk}, format="json"
    )
    assert resp.status_code == 403, resp.content
    assert set(ApiToken.objects.for_tenant(admin_a.tenant).values_list("pk", flat=True)) == before
    denied = events("tenants.permission.denied", admin_a.tenant)
    refusals = [e for e in denied if e.changes.get("reason") == "token for a member ranked at or above the issuer"]
    assert [e.changes["member_role"] for e in refusals] == ["owner", "admin", "owner"]
    assert all(e.actor_label.startswith("admin@acme.test") for e in refusals)
    assert not events("tenants.apitoken.issued_for_member", admin_a.tenant)
    # The owner is still the only owner, and the admin still an admin.
    me = attacker.get("/api/v1/me/").json()
    assert me["role"] == "admin"
    promote = attacker.patch(f"/api/v1/members/{admin_a.pk}/", {"role": "owner"}, format="json")
    assert promote.status_code == 403


def test_owner_cannot_issue_for_another_owner(owner_a, make_token, api):
    from tests.factories.tenants import MembershipFactory, UserFactory

    co_owner = MembershipFactory(tenant=owner_a.tenant, role="owner", user=UserFactory(username="o2@acme.test"))
    owner = api(make_token(owner_a, ["read", "admin"]))
    resp = owner.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"], "membership_id": co_owner.pk}, format="json")
    assert resp.status_code == 403 and "members ranked below you (owner)" in resp.json()["detail"]
    # For themselves: always allowed (within their own role).
    own = owner.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"], "membership_id": owner_a.pk}, format="json")
    assert own.status_code == 201, own.content
    assert events("tenants.apitoken.created", owner_a.tenant)[-1].changes["member"] == [None, "owner@acme.test"]


def test_admin_issuing_for_an_editor_is_audited_as_impersonation(admin_a, editor_a, make_token, api):
    resp = api(make_token(admin_a, ["read", "admin"])).post(
        "/api/v1/tokens/",
        {"name": "ci-editor", "scopes": ["read", "write"], "membership_id": editor_a.pk},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    issued = resp.json()["token"]
    assert api(issued).get("/api/v1/me/").json()["role"] == "editor"
    # Never beyond the member's own role, whoever issues it.
    over = api(make_token(admin_a, ["read", "admin"])).post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["deploy"], "membership_id": editor_a.pk}, format="json"
    )
    assert over.status_code == 403 and "cannot hold the scopes deploy" in over.json()["detail"]
    (event,) = events("tenants.apitoken.issued_for_member", admin_a.tenant)
    assert event.actor_type == "token" and event.actor_label.startswith("admin@acme.test via token llmp_")
    assert event.changes["issuer"] == event.actor_label and event.changes["issuer_role"] == "admin"
    assert event.changes["member"] == [None, "editor@acme.test"] and event.changes["member_role"] == "editor"
    assert event.changes["member_id"] == editor_a.pk and event.target_id == str(_token_row(issued).pk)
    assert not [e for e in events("tenants.apitoken.created", admin_a.tenant) if e.target_id == event.target_id]


def test_editors_cannot_issue_for_anybody_else(editor_a, viewer_a, api):
    resp = api(user=editor_a.user, tenant="acme").post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read"], "membership_id": viewer_a.pk}, format="json"
    )
    assert resp.status_code == 403 and "does not allow 'tokens.manage'" in resp.json()["detail"]
    assert not ApiToken.objects.for_tenant(editor_a.tenant).exists()


def test_console_token_page_applies_the_same_rules(owner_a, admin_a, editor_a, client):
    client.force_login(admin_a.user)
    page = client.get("/t/acme/tokens/").content.decode()
    # Only members ranked below the admin are offered.
    assert f'value="{editor_a.pk}"' in page and f'value="{owner_a.pk}"' not in page
    resp = client.post("/t/acme/tokens/", {"name": "x", "scopes": ["read"], "membership_id": owner_a.pk}, follow=True)
    assert any("only be issued for members ranked below you" in str(m) for m in resp.context["messages"])
    assert b'data-testid="token-secret"' not in resp.content
    assert not ApiToken.objects.for_tenant(owner_a.tenant).exists()
    resp = client.post(
        "/t/acme/tokens/", {"name": "for-editor", "scopes": ["read"], "membership_id": editor_a.pk}, follow=True
    )
    assert b'data-testid="token-secret"' in resp.content
    row = ApiToken.objects.for_tenant(owner_a.tenant).get()
    assert row.membership_id == editor_a.pk
    (event,) = events("tenants.apitoken.issued_for_member", owner_a.tenant)
    assert event.actor_type == "user" and event.changes["issuer"] == "admin@acme.test"
    assert events("tenants.permission.denied", owner_a.tenant)[-1].changes["member_role"] == "owner"


# -- authentication failures ---------------------------------------------------------------------


def _error(resp) -> tuple[int, str]:
    assert resp["Content-Type"].startswith("application/json"), resp["Content-Type"]
    return resp.status_code, resp.json()["code"]


def test_expired_token_is_401_token_expired(viewer_a, make_token, api):
    plaintext = make_token(viewer_a, ["read"], expires_at=timezone.now() + dt.timedelta(hours=1))
    ApiToken.objects.for_tenant(viewer_a.tenant).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    resp = api(plaintext).get("/api/v1/me/")
    assert _error(resp) == (401, "token_expired")
    assert "expired at" in resp.json()["detail"]
    assert resp["WWW-Authenticate"].startswith("Bearer")
    assert events("tenants.permission.denied", viewer_a.tenant)[-1].changes["reason"] == "expired token used"


def test_revoked_token_is_401_token_revoked(admin_a, make_token, api):
    plaintext = make_token(admin_a, ["read", "admin"])
    row = _token_row(plaintext)
    resp = api(plaintext).post(f"/api/v1/tokens/{row.pk}/revoke/", {}, format="json")
    assert resp.status_code == 200 and resp.json()["is_revoked"] is True
    assert _error(api(plaintext).get("/api/v1/me/")) == (401, "token_revoked")
    assert events("tenants.apitoken.revoked", admin_a.tenant)


def test_bad_secret_and_unknown_key_are_401_token_invalid(viewer_a, make_token, api):
    plaintext = make_token(viewer_a)
    assert _error(api(plaintext + "x").get("/api/v1/me/")) == (401, "token_invalid")
    assert _error(api("llmp_000000000000.secret").get("/api/v1/me/")) == (401, "token_invalid")
    assert api(plaintext).get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer llmp_abc",  # no dot
        "Bearer llmp_.secret",  # empty key id
        "Bearer llmp_abc.",  # empty secret
        "Bearer abc.def",  # no prefix
        "Bearer llmp_a.b extra",  # three parts
        "Bearer llmp_0123456789abcdef0.s",  # key id too long
        "Basic dXNlcjpwdw==",
        "Token",
        "llmp_abc.def",  # no scheme
    ],
)
def test_malformed_authorization_headers_are_401_token_malformed(db, client, header):
    resp = client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert _error(resp) == (401, "token_malformed"), resp.content
    assert "llmp_<key_id>.<secret>" in resp.json()["detail"]


def test_no_credentials_is_401(db, client):
    resp = client.get("/api/v1/me/")
    assert resp.status_code == 401 and resp.json()["code"] == "not_authenticated"


# -- IP allow-list -------------------------------------------------------------------------------


def test_ip_allow_list(viewer_a, make_token, client):
    plaintext = make_token(viewer_a, ["read"], allowed_ips=["10.1.0.0/16", "192.0.2.7"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert client.get("/api/v1/me/", REMOTE_ADDR="10.1.200.3", **auth).status_code == 200
    assert client.get("/api/v1/me/", REMOTE_ADDR="192.0.2.7", **auth).status_code == 200
    resp = client.get("/api/v1/me/", REMOTE_ADDR="10.2.0.1", **auth)
    assert resp.status_code == 403, resp.content
    assert "10.2.0.1" in resp.json()["detail"] and "allow-list" in resp.json()["detail"]
    denial = events("tenants.permission.denied", viewer_a.tenant)[-1]
    assert denial.changes["reason"] == "ip not in allow-list" and denial.changes["ip"] == "10.2.0.1"
    assert denial.ip == "10.2.0.1"


# -- last_used_at ----------------------------------------------------------------------------------


def _last_used_writes(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"])


def test_last_used_at_is_written_at_most_once_a_minute(viewer_a, make_token, client):
    plaintext = make_token(viewer_a)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    assert _token_row(plaintext).last_used_at is None
    with CaptureQueriesContext(connection) as first_two:
        assert client.get("/api/v1/me/", **auth).status_code == 200
        assert client.get("/api/v1/me/", **auth).status_code == 200
    assert _last_used_writes(first_two.captured_queries) == 1
    first_use = _token_row(plaintext).last_used_at
    assert first_use is not None and timezone.now() - first_use < dt.timedelta(seconds=30)

    # 61 seconds later (moved back in the database instead of freezing the clock): one more write.
    earlier = first_use - dt.timedelta(seconds=61)
    ApiToken.objects.for_tenant(viewer_a.tenant).filter(pk=_token_row(plaintext).pk).update(last_used_at=earlier)
    with CaptureQueriesContext(connection) as later:
        assert client.get("/api/v1/me/", **auth).status_code == 200
        assert client.get("/api/v1/me/", **auth).status_code == 200
    assert _last_used_writes(later.captured_queries) == 1
    assert _token_row(plaintext).last_used_at > first_use


# -- tenant resolution -----------------------------------------------------------------------------


def test_token_for_tenant_a_with_x_tenant_b_is_404(viewer_a, owner_b, make_token, api):
    resp = api(make_token(viewer_a), tenant="globex").get("/api/v1/me/")
    assert resp.status_code == 404 and resp.json()["code"] == "tenant_not_found"
    assert "only for its own tenant" in resp.json()["detail"]
    assert events("tenants.permission.denied", viewer_a.tenant)[-1].changes["x_tenant"] == "globex"
    # Its own slug in the header is fine.
    assert api(make_token(viewer_a), tenant="acme").get("/api/v1/me/").status_code == 200


def test_session_call_without_x_tenant_is_400(viewer_a, api):
    resp = api(user=viewer_a.user).get("/api/v1/me/")
    assert resp.status_code == 400, resp.content
    assert "X-Tenant" in resp.json()["detail"]


def test_unknown_tenant_slug_is_404(viewer_a, owner_b, api):
    for slug in ("nope", "globex"):  # a tenant that does not exist, and one the user is not in
        resp = api(user=viewer_a.user, tenant=slug).get("/api/v1/me/")
        assert resp.status_code == 404 and resp.json()["code"] == "tenant_not_found", slug


# -- throttling ------------------------------------------------------------------------------------


def test_token_throttle_answers_429_with_retry_after(viewer_a, make_token, api, settings):
    # A token without its own rate gets the platform default (API_TOKEN_RATE_DEFAULT_PER_MIN).
    settings.API_TOKEN_RATE_DEFAULT_PER_MIN = 3
    client = api(make_token(viewer_a))
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    resp = client.get("/api/v1/me/")
    assert resp.status_code == 429, resp.content
    assert 0 < int(resp["Retry-After"]) <= 60
    assert resp.json()["code"] == "quota_exceeded"
    assert "rate limit of 3 requests per minute" in resp.json()["detail"]
    # Another token has its own bucket.
    assert api(make_token(viewer_a)).get("/api/v1/me/").status_code == 200


def test_tenant_bucket_is_shared_by_its_tokens(viewer_a, editor_a, owner_b, make_token, api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000/min", "tenant": "3/min"},
    }
    one, two = api(make_token(viewer_a)), api(make_token(editor_a))
    assert [c.get("/api/v1/me/").status_code for c in (one, two, one)] == [200, 200, 200]
    resp = two.get("/api/v1/me/")
    assert resp.status_code == 429 and "Retry-After" in resp
    # Another tenant is not affected.
    assert api(make_token(owner_b)).get("/api/v1/me/").status_code == 200


# -- manage.py create_api_token -------------------------------------------------------------------


def test_create_api_token_command(editor_a, capsys, api):
    call_command(
        "create_api_token",
        "--tenant",
        "acme",
        "--user",
        "EDITOR@acme.test",
        "--scopes",
        "read,write",
        "--expires",
        "30",
    )
    plaintext = capsys.readouterr().out.strip()
    assert TOKEN_RE.match(plaintext), plaintext
    row = _token_row(plaintext)
    assert row.membership_id == editor_a.pk and row.scopes == ["read", "write"]
    assert dt.timedelta(days=29) < row.expires_at - timezone.now() <= dt.timedelta(days=30)
    assert api(plaintext).get("/api/v1/me/").json()["role"] == "editor"
    created = events("tenants.apitoken.created", editor_a.tenant)[-1]
    assert created.actor_type == "system" and created.actor_label == "manage.py create_api_token"

    call_command("create_api_token", "--tenant", "acme", "--user", "editor@acme.test", "--expires", "2099-01-01T00:00")
    assert _token_row(capsys.readouterr().out.strip()).expires_at.year == 2099


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--user", "editor@acme.test"], "Unknown tenant 'nope'"),
        (["--tenant", "acme", "--user", "ghost@acme.test"], "'ghost@acme.test' is not a member of 'acme'"),
        (
            ["--tenant", "acme", "--user", "editor@acme.test", "--scopes", "deploy"],
            "cannot hold the scopes deploy",
        ),
        (["--tenant", "acme", "--user", "editor@acme.test", "--scopes", "root"], "Unknown or missing scopes"),
        (["--tenant", "acme", "--user", "editor@acme.test", "--expires", "soon"], "--expires must be"),
    ],
)
def test_create_api_token_command_errors(editor_a, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("create_api_token", *args)
    assert not ApiToken.objects.for_tenant(editor_a.tenant).exists()
