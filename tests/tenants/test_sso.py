"""SSO end to end against the real node oidc-provider, plus the claim-mapping service and preview.

The portal runs in Django's live server; a requests.Session plays the browser: it starts at
/oidc/authenticate/, logs in on the provider's HTML form, and follows the callback. Group claims
grant memberships only in tenants that trust the provider's issuer (`trust`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, TrustedIssuer
from tenants.services import token_create
from tenants.services.sso import sso_sync_memberships
from tenants.sso_session import ENDED_ACTION
from tests.factories.tenants import MembershipFactory, TenantFactory, UserFactory
from tests.support.oidc import OidcProvider
from tests.tenants.helpers import events

CLIENT_ID = "portal"
CLIENT_SECRET = "sso-test-secret-0123456789abcdef"
IDP_PASSWORD = "idp-pw"
# The issuer of the claim-mapping tests that need no running provider.
ISS = "https://idp.acme.test"
User = get_user_model()


def trust(tenant, issuer: str) -> TrustedIssuer:
    """Test setup: `tenant` accepts group claims from `issuer` (owners do this through the API)."""
    return TrustedIssuer.objects.create(tenant=tenant, issuer=issuer)


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
    settings.OIDC_OP_ISSUER = op.issuer
    settings.OIDC_LINK_EMAIL_DOMAINS = []
    settings.OIDC_REVALIDATE_S = 600
    settings.SSO_TOKEN_IDP_MAX_AGE_S = 86400
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
    trust(tenant_a, sso.issuer)
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
    provisioned = events("tenants.user.provisioned")[0].changes
    assert provisioned["issuer_sub"] == [None, "alice"] and provisioned["issuer"] == [None, sso.issuer]
    assert list(user.external_identities.values_list("issuer", "subject")) == [(sso.issuer, "alice")]
    created = events("tenants.membership.created", tenant_a)[-1]
    assert created.actor_type == "system" and created.changes["source"] == [None, "sso"]
    assert events("tenants.user.logged_in", actor=user)[-1].changes == {"method": "sso"}
    # The session works for the API too.
    me = login.session.get(f"{live_server.url}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "editor"


def test_changed_groups_are_synced_at_the_next_login(sso, live_server, tenant_a, tenant_b):
    initech = TenantFactory(slug="initech", name="Initech")
    trust(tenant_a, sso.issuer)
    trust(tenant_b, sso.issuer)
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
    assert User.objects.filter(email="alice@acme.test").count() == 1  # matched by (issuer, sub), not duplicated
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
        "issuer": sso.issuer,
    }


def test_unverified_email_is_refused(sso, live_server, tenant_a):
    trust(tenant_a, sso.issuer)
    sso.set_users({"eve": idp_user("owner@acme.test", ["acme:owner"], email_verified=False)})
    login = sso_login(sso, live_server.url, "eve")
    assert login.path == "/login/"  # not logged in
    assert "did not confirm that your e-mail address is verified" in login.final.text
    assert not User.objects.filter(email="owner@acme.test").exists()
    assert not AuditEvent.objects.all_tenants().filter(action="tenants.user.logged_in").exists()
    assert events("tenants.sso.login_refused")[-1].changes["reason"] == "email_unverified"


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


# -- identity linking: (issuer, subject), verified e-mail, allowed domains (real provider) ------------


@pytest.mark.parametrize(
    "verified",
    [
        {"email_verified": False},
        {"email_verified": "false"},
        {"email_verified": "true"},
        {"omit_claims": ["email_verified"]},
    ],
    ids=["false", "string-false", "string-true", "missing"],
)
def test_an_unverified_email_does_not_take_over_an_existing_account(sso, live_server, owner_a, settings, verified):
    """The IdP user 'eve' claims the owner's e-mail; only the JSON boolean true would count."""
    settings.OIDC_LINK_EMAIL_DOMAINS = ["acme.test"]  # linking is allowed for the domain: only verification lacks
    trust(owner_a.tenant, sso.issuer)
    sso.set_users({"eve": idp_user("owner@acme.test", ["acme:owner"], **verified)})
    login = sso_login(sso, live_server.url, "eve")
    assert login.path == "/login/", login.final.url
    assert "did not confirm that your e-mail address is verified" in login.final.text
    me = login.session.get(f"{live_server.url}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10)
    assert me.status_code in (401, 403)  # not signed in as the owner, nor as anybody
    assert not owner_a.user.external_identities.exists()
    assert User.objects.filter(email__iexact="owner@acme.test").count() == 1
    refused = events("tenants.sso.login_refused")[-1]
    assert refused.changes == {
        "issuer": sso.issuer,
        "subject": "eve",
        "email": "owner@acme.test",
        "reason": "email_unverified",
    }


def test_a_verified_email_links_an_existing_account_only_for_allowed_domains(sso, live_server, owner_a, settings):
    trust(owner_a.tenant, sso.issuer)
    sso.set_users({"olivia": idp_user("Owner@Acme.test", ["acme:viewer"])})
    settings.OIDC_LINK_EMAIL_DOMAINS = ["globex.test"]
    refused = sso_login(sso, live_server.url, "olivia")
    assert refused.path == "/login/" and "already exists" in refused.final.text
    assert events("tenants.sso.login_refused")[-1].changes["reason"] == "link_domain_not_allowed"
    assert not owner_a.user.external_identities.exists()

    settings.OIDC_LINK_EMAIL_DOMAINS = ["acme.test"]
    login = sso_login(sso, live_server.url, "olivia")
    assert login.final.status_code == 200 and login.path == "/t/acme/"
    assert list(owner_a.user.external_identities.values_list("issuer", "subject")) == [(sso.issuer, "olivia")]
    linked = events("tenants.user.identity_linked")[-1]
    assert linked.target_id == str(owner_a.user.pk) and linked.changes["by"] == "verified_email"
    # The manual owner membership is not the IdP's to change.
    owner_a.refresh_from_db()
    assert (owner_a.role, owner_a.source) == ("owner", "manual")


def test_logins_match_on_issuer_and_subject_not_email(sso, live_server, tenant_a, settings):
    settings.OIDC_LINK_EMAIL_DOMAINS = ["acme.test"]
    trust(tenant_a, sso.issuer)
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    assert sso_login(sso, live_server.url, "alice").path == "/t/acme/"
    alice = User.objects.get(email="alice@acme.test")
    # alice's address changes at the IdP: still alice's account.
    sso.set_users({"alice": idp_user("alice.new@acme.test", ["acme:editor"])})
    again = sso_login(sso, live_server.url, "alice")
    me = again.session.get(f"{live_server.url}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10).json()
    assert me["user"]["id"] == alice.pk
    # Another IdP user asserting alice's (verified) e-mail does not get her account.
    sso.set_users({"mallory": idp_user("alice@acme.test", ["acme:owner"])})
    mallory = sso_login(sso, live_server.url, "mallory")
    assert mallory.path == "/login/"
    assert events("tenants.sso.login_refused")[-1].changes["reason"] == "link_already_linked"
    assert User.objects.filter(email="alice@acme.test").count() == 1


def test_an_id_token_from_another_issuer_is_refused(sso, live_server, tenant_a, settings):
    settings.OIDC_OP_ISSUER = "https://idp.elsewhere.test"
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    login = sso_login(sso, live_server.url, "alice")
    assert login.path == "/login/" and "does not accept" in login.final.text
    assert not User.objects.filter(email="alice@acme.test").exists()


def test_group_claims_count_only_in_tenants_that_trust_the_issuer(sso, live_server, tenant_a, tenant_b):
    trust(tenant_a, sso.issuer)
    TrustedIssuer.objects.create(tenant=tenant_b, issuer="https://idp.globex.test")  # globex trusts its own IdP
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:viewer", "globex:admin"])})
    login = sso_login(sso, live_server.url, "alice")
    assert login.path == "/t/acme/"
    user = User.objects.get(email="alice@acme.test")
    assert {m.tenant.slug: m.role for m in Membership.objects.for_user(user).select_related("tenant")} == {
        "acme": "viewer"
    }
    assert login.session.get(f"{live_server.url}/t/globex/", timeout=10).status_code == 404
    ignored = events("tenants.sso.claims_ignored")[-1].changes
    assert ignored["values"] == ["globex:admin"] and ignored["statuses"] == ["untrusted_issuer"]
    # globex's owners see the attempt in their own audit log.
    untrusted = events("tenants.sso.claim_untrusted", tenant_b)
    assert len(untrusted) == 1 and untrusted[0].changes == {"issuer": sso.issuer, "values": ["globex:admin"]}


# -- removal at the IdP ends access within a bound (real provider) ---------------------------------


def test_a_user_deleted_at_the_idp_is_signed_out_after_the_bound(sso, live_server, tenant_a, settings):
    settings.OIDC_REVALIDATE_S = 1
    trust(tenant_a, sso.issuer)
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    login = sso_login(sso, live_server.url, "alice")
    http, base = login.session, live_server.url
    time.sleep(1.1)
    # Past the bound while the IdP still knows alice: re-validated, nothing changes.
    assert http.get(f"{base}/t/acme/", timeout=10).status_code == 200
    user = User.objects.get(email="alice@acme.test")
    assert not events(ENDED_ACTION)

    sso.set_users({})  # alice is deleted at the IdP
    assert http.get(f"{base}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10).status_code == 200  # within
    time.sleep(1.1)
    page = http.get(f"{base}/t/acme/", timeout=10)
    assert urlsplit(page.url).path == "/login/"  # signed out, sent to the login page
    assert "Your single sign-on session ended" in page.text
    assert http.get(f"{base}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10).status_code in (401, 403)
    ended = events(ENDED_ACTION, actor=user)
    assert len(ended) == 1 and "no longer accepts this sign-in" in ended[0].changes["reason"]


def test_a_group_removed_at_the_idp_removes_the_membership_and_its_tokens_within_the_bound(
    sso, live_server, tenant_a, settings, api
):
    settings.OIDC_REVALIDATE_S = 1
    trust(tenant_a, sso.issuer)
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    login = sso_login(sso, live_server.url, "alice")
    user = User.objects.get(email="alice@acme.test")
    membership = Membership.objects.for_tenant(tenant_a).get(user=user)
    token = token_create(tenant=tenant_a, actor=Actor.system(), membership=membership, name="ci", scopes=["read"])
    assert api(token.plaintext).get("/api/v1/me/").status_code == 200

    sso.set_users({"alice": idp_user("alice@acme.test", [])})  # the group is gone at the IdP
    time.sleep(1.1)
    # The next request (any request: here an API call with the session) re-syncs from userinfo.
    me = login.session.get(f"{live_server.url}/api/v1/me/", headers={"X-Tenant": "acme"}, timeout=10)
    assert me.status_code == 404  # still signed in, but no longer a member of acme
    assert not Membership.objects.for_tenant(tenant_a).filter(user=user).exists()
    assert api(token.plaintext).get("/api/v1/me/").status_code == 401  # the token went with the membership


def test_api_tokens_of_sso_users_need_a_recent_idp_validation(sso, live_server, tenant_a, settings, api):
    settings.SSO_TOKEN_IDP_MAX_AGE_S = 2
    trust(tenant_a, sso.issuer)
    sso.set_users({"alice": idp_user("alice@acme.test", ["acme:editor"])})
    sso_login(sso, live_server.url, "alice")
    user = User.objects.get(email="alice@acme.test")
    membership = Membership.objects.for_tenant(tenant_a).get(user=user)
    plaintext = token_create(
        tenant=tenant_a, actor=Actor.system(), membership=membership, name="ci", scopes=["read"]
    ).plaintext
    assert api(plaintext).get("/api/v1/me/").status_code == 200
    time.sleep(2.2)  # the IdP has not vouched for alice for longer than the bound
    stale = api(plaintext).get("/api/v1/me/")
    assert stale.status_code == 401 and stale.json()["code"] == "sso_revalidation_required"
    assert events("tenants.permission.denied", tenant_a)[-1].changes["reason"].startswith("sso user not re-validated")
    sso_login(sso, live_server.url, "alice")  # the IdP vouches again
    assert api(plaintext).get("/api/v1/me/").status_code == 200


# -- the mapping service, preview API and command (no provider needed) -----------------------------


def test_sync_never_removes_the_last_owner(tenant_a):
    trust(tenant_a, ISS)
    user = UserFactory(username="solo@acme.test")
    MembershipFactory(tenant=tenant_a, user=user, role="owner", source="sso")
    report = sso_sync_memberships(user=user, claims={"groups": []}, issuer=ISS)
    assert report["kept"] == ["acme"]
    assert Membership.objects.for_tenant(tenant_a).get(user=user).role == "owner"
    assert events("tenants.permission.denied", tenant_a)[-1].changes["reason"].startswith("sso sync would remove")
    report = sso_sync_memberships(user=user, claims={"groups": ["acme:viewer"]}, issuer=ISS)
    assert report["kept"] == ["acme"] and Membership.objects.for_tenant(tenant_a).get(user=user).role == "owner"


def test_sync_updates_roles_and_ignores_inactive_tenants(tenant_a):
    trust(tenant_a, ISS)
    trust(TenantFactory(slug="dormant", is_active=False), ISS)
    user = UserFactory(username="u@acme.test")
    assert sso_sync_memberships(user=user, claims={"groups": "acme:viewer"}, issuer=ISS)["added"] == ["acme"]
    report = sso_sync_memberships(user=user, claims={"groups": [" ACME:Admin ", "dormant:owner"]}, issuer=ISS)
    assert report["updated"] == ["acme"] and report["ignored"] == ["dormant:owner"]
    assert Membership.objects.for_tenant(tenant_a).get(user=user).role == "admin"


def test_preview_endpoint_shows_the_mapping_for_this_tenant(admin_a, tenant_b, api):
    trust(admin_a.tenant, ISS)
    resp = api(user=admin_a.user, tenant="acme").post(
        "/api/v1/sso/preview/",
        {"claims": {"groups": ["acme:viewer", "acme:editor", "globex:owner"]}, "issuer": ISS},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    assert resp.json() == {
        "tenant": "acme",
        "issuer": ISS,
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


def test_sso_preview_command(tenant_a, tenant_b, capsys):
    trust(tenant_a, ISS)
    claims = json.dumps({"groups": ["acme:admin", "nope:viewer", "acme", "globex:owner"]})
    call_command("sso_preview", claims, "--issuer", ISS)
    out = json.loads(capsys.readouterr().out)
    assert out["memberships"] == {"acme": "admin"} and out["issuer"] == ISS
    assert [(v["value"], v["status"]) for v in out["values"]] == [
        ("acme:admin", "grant"),
        ("nope:viewer", "unknown_tenant"),
        ("acme", "malformed"),
        ("globex:owner", "untrusted_issuer"),
    ]
    assert not AuditEvent.objects.all_tenants().exists()  # a preview writes nothing


@pytest.mark.parametrize(("arg", "message"), [("{nope", "claims must be JSON"), ("[1]", "must be a JSON object")])
def test_sso_preview_command_errors(db, arg, message):
    with pytest.raises(CommandError, match=message):
        call_command("sso_preview", arg)


def test_system_actor_label_names_the_user(tenant_a):
    trust(tenant_a, ISS)
    user = UserFactory(username="lbl@acme.test")
    sso_sync_memberships(user=user, claims={"groups": ["acme:viewer"]}, issuer=ISS)
    assert events("tenants.membership.created", tenant_a)[-1].actor_label == "sso sync for lbl@acme.test"
