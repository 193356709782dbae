"""SSO end to end against the real node oidc-provider, plus the claim-mapping service and preview.

The portal runs in Django's live server; a requests.Session plays the browser: it starts at
/oidc/authenticate/, logs in on the provider's HTML form, and follows the callback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tenants.models import AuditEvent, Membership
from tenants.services.sso import sso_sync_memberships
from tests.factories.tenants import MembershipFactory, TenantFactory, UserFactory
from tests.support.oidc import OidcProvider
from tests.tenants.helpers import events

CLIENT_ID = "portal"
CLIENT_SECRET = "sso-test-secret-0123456789abcdef"
IDP_PASSWORD = "idp-pw"
User = get_user_model()


def idp_user(email: str, groups: list[str], **extra) -> dict:
    return {
        "password": "idp-pw",
        "email": email,
        "name": email.split("@")[0].title(),
        "groups": groups,
        **extra,
    }


@pytest.fixture(scope="module")
def op(live_server) -> Iterator[OidcProvider]:
    """One provider for the module (started after the live server: the callback names its port)."""
    callbacks = [
        f"{live_server.url}/oidc/callback/",
        f"{live_server.url.replace('localhost', '127.0.0.1')}/oidc/callback/",
    ]
    with OidcProvider({}, CLIENT_ID, CLIENT_SECRET, callbacks) as provider:
        yield provider


@pytest.fixture
def sso(op, settings, live_server, transactional_db):
    """Point mozilla-django-oidc at the provider (endpoints and algorithm from discovery)."""
    assert "RS256" in op.discovery["id_token_signing_alg_values_supported"]
    assert "S256" in op.discovery["code_challenge_methods_supported"]
    settings.USE_OIDC = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = op.authorization_endpoint
    settings.OIDC_OP_TOKEN_ENDPOINT = op.token_endpoint
    settings.OIDC_OP_USER_ENDPOINT = op.userinfo_endpoint
    settings.OIDC_OP_JWKS_ENDPOINT = op.jwks_uri
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_USE_PKCE = True
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    op.set_users({})
    return op


class Login:
    def __init__(self, authorize_url: str, final: requests.Response, session: requests.Session) -> None:
        self.authorize_url = authorize_url
        self.final = final
        self.session = session

    @property
    def path(self) -> str:
        return urlsplit(self.final.url).path


def sso_login(op: OidcProvider, base_url: str, username: str, password: str = IDP_PASSWORD) -> Login:
    """A fresh browser session: portal -> provider login form -> callback -> landing page."""
    http = requests.Session()
    start = http.get(f"{base_url}/oidc/authenticate/", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text[:500]
    authorize_url = start.headers["Location"]
    assert authorize_url.startswith(op.authorization_endpoint), authorize_url
    callback = op.login(authorize_url, username, password, session=http)
    assert urlsplit(callback).path == "/oidc/callback/", callback
    final = http.get(callback, timeout=10)
    return Login(authorize_url, final, http)


def test_sso_login_provisions_user_and_membership(sso, live_server, tenant_a):
    sso.set_users({"alice": idp_user("Alice@Acme.test", ["acme:editor"])})
    login = sso_login(sso, live_server.url, "alice")

    query = parse_qs(urlsplit(login.authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43  # PKCE
    assert query["client_id"] == [CLIENT_ID] and "groups" in query["scope"][0].split()
    assert "nonce" in query and "state" in query

    assert login.final.status_code == 200, login.final.text[:500]
    assert login.path == "/t/acme/"
    assert "Acme" in login.final.text and ">editor<" in login.final.text

    user = User.objects.get(email="alice@acme.test")
    assert not user.has_usable_password()
    membership = Membership.objects.for_tenant(tenant_a).get(user=user)
    assert (membership.role, membership.source) == ("editor", "sso")
    assert events("tenants.user.provisioned")[0].changes["issuer_sub"] == [None, "alice"]
    created = events("tenants.membership.created", tenant_a)[-1]
    assert created.actor_type == "system" and created.changes["source"] == [None, "sso"]
    assert events("tenants.user.logged_in", actor=user)[-1].changes == {"method": "sso"}
    # The session works for the API too.
    me = login.session.get(f"{live_server.url}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "editor"


def test_changed_groups_are_synced_at_the_next_login(sso, live_server, tenant_a, tenant_b):
    initech = TenantFactory(slug="initech", name="Initech")
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    assert sso_login(sso, live_server.url, "alice").path == "/t/acme/"
    user = User.objects.get(email="alice@acme.test")
    MembershipFactory(tenant=initech, user=user, role="viewer")  # granted by hand: SSO leaves it alone

    sso.set_users({"alice": idp_user("alice@acme.test", ["globex:viewer", "globex:editor"])})
    login = sso_login(sso, live_server.url, "alice")
    assert login.final.status_code == 200
    roles = {m.tenant.slug: (m.role, m.source) for m in Membership.objects.for_user(user).select_related("tenant")}
    assert roles == {"globex": ("editor", "sso"), "initech": ("viewer", "manual")}  # highest group wins
    assert events("tenants.membership.deleted", tenant_a)[-1].changes["source"] == ["sso", None]
    assert events("tenants.membership.created", tenant_b)[-1].changes["role"] == [None, "editor"]
    assert User.objects.filter(email="alice@acme.test").count() == 1  # matched by email, not duplicated
    # The old tenant is gone for this user: its console is a 404.
    assert login.session.get(f"{live_server.url}/t/acme/", timeout=10).status_code == 404


def test_claims_naming_unknown_tenants_land_on_the_no_tenant_page(sso, live_server, tenant_a):
    sso.set_users({"carol": idp_user("carol@acme.test", ["nope:admin", "acme:superuser", "garbage"])})
    login = sso_login(sso, live_server.url, "carol")
    assert login.path == "/"
    assert login.final.status_code == 403
    assert "not a member of any tenant" in login.final.text
    user = User.objects.get(email="carol@acme.test")
    assert not Membership.objects.for_user(user).exists()
    ignored = events("tenants.sso.claims_ignored")
    assert len(ignored) == 1 and ignored[0].target_id == str(user.pk)
    assert ignored[0].changes == {
        "values": ["nope:admin", "acme:superuser", "garbage"],
        "statuses": ["invalid_role", "malformed", "unknown_tenant"],
    }


def test_unverified_email_is_refused(sso, live_server, tenant_a):
    sso.set_users({"eve": idp_user("owner@acme.test", ["acme:owner"], email_verified=False)})
    login = sso_login(sso, live_server.url, "eve")
    assert login.path == "/login/"  # not logged in
    assert not User.objects.filter(email="owner@acme.test").exists()
    assert not AuditEvent.objects.all_tenants().filter(action="tenants.user.logged_in").exists()


def test_password_login_still_works_when_sso_is_on(sso, live_server, viewer_a):
    http = requests.Session()
    page = http.get(f"{live_server.url}/login/", timeout=10)
    assert page.status_code == 200
    assert 'id="sso-login"' in page.text and "break-glass password login" in page.text
    resp = http.post(
        f"{live_server.url}/login/",
        data={
            "username": "viewer@acme.test",
            "password": "pw-correct-horse",
            "csrfmiddlewaretoken": http.cookies["csrftoken"],
        },
        headers={"Referer": f"{live_server.url}/login/"},
        timeout=10,
    )
    assert resp.status_code == 200 and urlsplit(resp.url).path == "/t/acme/"
    assert events("tenants.user.logged_in", actor=viewer_a.user)[-1].changes == {"method": "password"}


# -- the mapping service, preview API and command (no provider needed) -----------------------------


def test_sync_never_removes_the_last_owner(tenant_a):
    user = UserFactory(username="solo@acme.test")
    MembershipFactory(tenant=tenant_a, user=user, role="owner", source="sso")
    report = sso_sync_memberships(user=user, claims={"groups": []})
    assert report["kept"] == ["acme"]
    assert Membership.objects.for_tenant(tenant_a).get(user=user).role == "owner"
    assert events("tenants.permission.denied", tenant_a)[-1].changes["reason"].startswith("sso sync would remove")
    report = sso_sync_memberships(user=user, claims={"groups": ["acme:viewer"]})
    assert report["kept"] == ["acme"] and Membership.objects.for_tenant(tenant_a).get(user=user).role == "owner"


def test_sync_updates_roles_and_ignores_inactive_tenants(tenant_a):
    TenantFactory(slug="dormant", is_active=False)
    user = UserFactory(username="u@acme.test")
    assert sso_sync_memberships(user=user, claims={"groups": "acme:viewer"})["added"] == ["acme"]
    report = sso_sync_memberships(user=user, claims={"groups": [" ACME:Admin ", "dormant:owner"]})
    assert report["updated"] == ["acme"] and report["ignored"] == ["dormant:owner"]
    assert Membership.objects.for_tenant(tenant_a).get(user=user).role == "admin"


def test_preview_endpoint_shows_the_mapping_for_this_tenant(admin_a, tenant_b, api):
    resp = api(user=admin_a.user, tenant="acme").post(
        "/api/v1/sso/preview/",
        {"claims": {"groups": ["acme:viewer", "acme:editor", "globex:owner"]}},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    assert resp.json() == {
        "tenant": "acme",
        "role": "editor",
        "values": [
            {"value": "acme:viewer", "role": "viewer", "status": "grant"},
            {"value": "acme:editor", "role": "editor", "status": "grant"},
        ],
    }
    assert not Membership.objects.for_tenant(tenant_b).exists()  # nothing was changed


def test_preview_endpoint_needs_members_manage(editor_a, api):
    resp = api(user=editor_a.user, tenant="acme").post("/api/v1/sso/preview/", {"claims": {}}, format="json")
    assert resp.status_code == 403


def test_sso_preview_command(tenant_a, capsys):
    call_command("sso_preview", json.dumps({"groups": ["acme:admin", "nope:viewer", "acme"]}))
    out = json.loads(capsys.readouterr().out)
    assert out["memberships"] == {"acme": "admin"}
    assert [(v["value"], v["status"]) for v in out["values"]] == [
        ("acme:admin", "grant"),
        ("nope:viewer", "unknown_tenant"),
        ("acme", "malformed"),
    ]
    assert not AuditEvent.objects.all_tenants().exists()  # a preview writes nothing


@pytest.mark.parametrize(("arg", "message"), [("{nope", "claims must be JSON"), ("[1]", "must be a JSON object")])
def test_sso_preview_command_errors(db, arg, message):
    with pytest.raises(CommandError, match=message):
        call_command("sso_preview", arg)


def test_system_actor_label_names_the_user(tenant_a):
    user = UserFactory(username="lbl@acme.test")
    sso_sync_memberships(user=user, claims={"groups": ["acme:viewer"]})
    assert events("tenants.membership.created", tenant_a)[-1].actor_label == "sso sync for lbl@acme.test"
