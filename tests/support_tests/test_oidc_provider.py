"""Smoke tests of the real local OIDC provider (tests/support/oidc/provider.mjs), no browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

import tests.support.oidc as oidc_support
from tests.support.oidc import OidcProvider, OidcProviderError, login_form_action, pkce_pair

from .conftest import LocalHttpServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CLIENT_ID = "portal-test"
CLIENT_SECRET = "not-a-real-secret-0123456789"
SCOPE = "openid email profile groups"
REPO_ROOT = Path(__file__).resolve().parents[2]


def users(groups: list[str]) -> dict[str, dict[str, Any]]:
    return {
        "alice": {"password": "alice-pw", "email": "alice@acme.test", "name": "Alice A", "groups": groups},
        "bob": {"password": "bob-pw", "email": "bob@acme.test", "name": "Bob B", "groups": ["acme:viewer"]},
    }


def authorize_url(op: OidcProvider, redirect_uri: str, **overrides: str | None) -> tuple[str, str]:
    """Build an authorization request; return (url, code_verifier). None drops a parameter."""
    verifier, challenge = pkce_pair()
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": redirect_uri,
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{op.authorization_endpoint}?{query}", verifier


def exchange(op: OidcProvider, code: str, verifier: str | None, redirect_uri: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    data |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return requests.post(op.token_endpoint, data=data, timeout=10)


def verified_id_token(op: OidcProvider, id_token: str) -> dict[str, Any]:
    """Verify signature (JWKS), audience, issuer and expiry; return the claims."""
    signing_key = jwt.PyJWKClient(op.jwks_uri).get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token, signing_key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=op.issuer
    )
    return claims


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def login_and_get_claims(
    op: OidcProvider, redirect_uri: str, session: requests.Session | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Full code+PKCE login as alice; return (id_token claims, userinfo)."""
    url, verifier = authorize_url(op, redirect_uri)
    callback = op.login(url, "alice", "alice-pw", session=session)
    tokens = exchange(op, query_of(callback)["code"], verifier, redirect_uri)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    userinfo = requests.get(
        op.userinfo_endpoint, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    )
    assert userinfo.status_code == 200, userinfo.text
    return verified_id_token(op, body["id_token"]), userinfo.json()


@pytest.fixture
def callback_server(local_http_server: LocalHttpServer) -> LocalHttpServer:
    return local_http_server


@pytest.fixture
def op(oidc_provider_factory: oidc_support.OidcProviderFactory, callback_server: LocalHttpServer) -> OidcProvider:
    return oidc_provider_factory(
        users(["acme:admin"]), CLIENT_ID, CLIENT_SECRET, [f"{callback_server.url}/oidc/callback/"]
    )


def test_discovery_advertises_pkce_s256_and_groups(op: OidcProvider) -> None:
    assert op.issuer.startswith("http://127.0.0.1:")
    assert op.discovery["issuer"] == op.issuer
    assert op.discovery["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "email", "profile", "groups"} <= set(op.discovery["scopes_supported"])
    assert {"email", "email_verified", "name", "groups"} <= set(op.discovery["claims_supported"])
    for endpoint in (op.authorization_endpoint, op.token_endpoint, op.userinfo_endpoint, op.jwks_uri):
        assert endpoint.startswith(op.issuer + "/")
    assert requests.get(op.jwks_uri, timeout=10).json()["keys"][0]["alg"] == "RS256"


def test_code_flow_with_pkce_follows_redirects_to_callback(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    url, verifier = authorize_url(op, redirect_uri)
    http = requests.Session()

    form_page = http.get(url, timeout=10)  # follows 303 to /interaction/<uid>
    assert form_page.status_code == 200
    action = login_form_action(form_page.text)
    assert action is not None and action.startswith("/interaction/")

    landed = http.post(
        op.issuer + action, data={"login": "alice", "password": "alice-pw"}, timeout=10
    )  # follows the provider's redirects all the way to the callback server
    assert landed.status_code == 200
    assert landed.url.startswith(redirect_uri)
    assert callback_server.paths and callback_server.paths[-1].startswith("/oidc/callback/?")
    params = query_of(landed.url)
    assert params["state"] == "state-123"
    assert params["iss"] == op.issuer

    tokens = exchange(op, params["code"], verifier, redirect_uri)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"].lower() == "bearer"
    claims = verified_id_token(op, body["id_token"])
    assert claims["sub"] == "alice"
    assert claims["nonce"] == "nonce-456"
    assert claims["email"] == "alice@acme.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice A"
    assert claims["groups"] == ["acme:admin"]

    userinfo = requests.get(
        op.userinfo_endpoint, headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10
    ).json()
    assert userinfo == {
        "sub": "alice",
        "email": "alice@acme.test",
        "email_verified": True,
        "name": "Alice A",
        "groups": ["acme:admin"],
    }

    # A code is single use.
    assert exchange(op, params["code"], verifier, redirect_uri).json()["error"] == "invalid_grant"


def test_id_token_signature_is_checked(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    url, verifier = authorize_url(op, redirect_uri)
    code = query_of(op.login(url, "alice", "alice-pw"))["code"]
    id_token = exchange(op, code, verifier, redirect_uri).json()["id_token"]
    header, payload, signature = id_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(jwt.InvalidSignatureError):
        verified_id_token(op, tampered)


def test_wrong_password_and_unknown_user_are_rejected(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    url, _ = authorize_url(op, redirect_uri)
    http = requests.Session()
    form_page = http.get(url, timeout=10)
    action = login_form_action(form_page.text)
    assert action is not None

    for login, password in (("alice", "wrong"), ("mallory", "alice-pw"), ("alice", "")):
        rejected = http.post(
            op.issuer + action, data={"login": login, "password": password}, allow_redirects=False, timeout=10
        )
        assert rejected.status_code == 401
        assert "Invalid username or password" in rejected.text
        assert login_form_action(rejected.text) == action  # form re-rendered, same interaction
    assert callback_server.paths == []

    # The interaction is still usable after failures.
    ok = http.post(op.issuer + action, data={"login": "alice", "password": "alice-pw"}, timeout=10)
    assert ok.url.startswith(redirect_uri)
    assert "code" in query_of(ok.url)

    with pytest.raises(OidcProviderError, match="login rejected"):
        op.login(authorize_url(op, redirect_uri)[0], "alice", "nope")


def test_missing_pkce_is_rejected_by_provider(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    url, _ = authorize_url(op, redirect_uri, code_challenge=None, code_challenge_method=None)
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.is_redirect
    location = response.headers["Location"]
    assert location.startswith(redirect_uri)  # error goes back to the client, no login form
    params = query_of(location)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert "code" not in params

    # plain is not accepted either.
    url, _ = authorize_url(op, redirect_uri, code_challenge="x" * 43, code_challenge_method="plain")
    params = query_of(requests.get(url, allow_redirects=False, timeout=10).headers["Location"])
    assert params["error"] == "invalid_request"


def test_token_exchange_requires_matching_verifier(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    for bad_verifier in (None, pkce_pair()[0]):
        url, _ = authorize_url(op, redirect_uri)
        code = query_of(op.login(url, "alice", "alice-pw"))["code"]
        response = exchange(op, code, bad_verifier, redirect_uri)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_rejected(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    url, verifier = authorize_url(op, redirect_uri)
    code = query_of(op.login(url, "alice", "alice-pw"))["code"]
    response = requests.post(
        op.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
            "client_secret": "wrong",
        },
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unregistered_redirect_uri_is_rejected(op: OidcProvider) -> None:
    url, _ = authorize_url(op, "http://127.0.0.1:1/evil/")
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert not response.is_redirect  # never redirects to an unregistered URI
    assert response.status_code == 400
    assert "redirect_uri" in response.text
    assert "googleapis" not in response.text  # our error page loads nothing external


def test_changed_groups_are_reflected_in_next_login(op: OidcProvider, callback_server: LocalHttpServer) -> None:
    redirect_uri = f"{callback_server.url}/oidc/callback/"
    claims, userinfo = login_and_get_claims(op, redirect_uri)
    assert claims["groups"] == userinfo["groups"] == ["acme:admin"]

    op.set_users(users(["acme:viewer", "globex:admin"]))
    claims, userinfo = login_and_get_claims(op, redirect_uri)
    assert claims["groups"] == userinfo["groups"] == ["acme:viewer", "globex:admin"]

    # Same provider session (SSO cookie, no password prompt): claims are still read fresh.
    sso = requests.Session()
    login_and_get_claims(op, redirect_uri, session=sso)
    op.set_users(users([]))
    url, verifier = authorize_url(op, redirect_uri)
    first = sso.get(url, allow_redirects=False, timeout=10)
    assert first.is_redirect
    callback = first.headers["Location"]
    assert callback.startswith(redirect_uri)  # straight back to the client: no login form
    tokens = exchange(op, query_of(callback)["code"], verifier, redirect_uri).json()
    assert verified_id_token(op, tokens["id_token"])["groups"] == []

    # A user removed from the file can no longer log in.
    op.set_users({"bob": users([])["bob"]})
    with pytest.raises(OidcProviderError, match="login rejected"):
        op.login(authorize_url(op, redirect_uri)[0], "alice", "alice-pw")


def test_client_secret_basic_variant(
    oidc_provider_factory: oidc_support.OidcProviderFactory, callback_server: LocalHttpServer
) -> None:
    redirect_uri = f"{callback_server.url}/cb"
    basic_op = oidc_provider_factory(
        users(["acme:admin"]),
        CLIENT_ID,
        CLIENT_SECRET,
        [redirect_uri],
        token_endpoint_auth_method="client_secret_basic",
    )
    url, verifier = authorize_url(basic_op, redirect_uri)
    code = query_of(basic_op.login(url, "bob", "bob-pw"))["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    response = requests.post(basic_op.token_endpoint, data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert response.status_code == 200, response.text
    assert verified_id_token(basic_op, response.json()["id_token"])["groups"] == ["acme:viewer"]


def test_missing_node_modules_raises_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oidc_support, "PROVIDER_DIR", tmp_path)
    with pytest.raises(OidcProviderError, match=r"scripts/install_test_deps\.sh"):
        OidcProvider(users([]), CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1:1/cb"]).start()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_stop_ends_node_process() -> None:
    provider = OidcProvider(users([]), CLIENT_ID, CLIENT_SECRET, ["http://127.0.0.1:1/cb"])
    with provider:
        assert provider._proc is not None
        pid = provider._proc.pid
        assert provider.running
        issuer = provider.issuer
    assert not provider.running
    assert _wait_gone(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2)


def test_node_exits_when_parent_is_killed() -> None:
    """SIGKILL of the Python parent (no teardown runs) still ends node: its stdin hits EOF."""
    script = (
        "import sys, time\n"
        "from tests.support.oidc import OidcProvider\n"
        "op = OidcProvider({}, 'c', 's', ['http://127.0.0.1:1/cb']).start()\n"
        "print(op._proc.pid, op.users_file.parent, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid_text, tmpdir = parent.stdout.readline().split()
        node_pid = int(pid_text)
        assert _pid_alive(node_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    assert _wait_gone(node_pid), "node provider outlived its killed parent"
    shutil.rmtree(tmpdir, ignore_errors=True)  # the killed parent could not clean up
