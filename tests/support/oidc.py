"""A real OpenID Connect provider (npm ``oidc-provider``) on 127.0.0.1 for SSO tests.

``OidcProvider`` runs ``node tests/support/oidc/provider.mjs`` as a child process: one
confidential client, authorization-code flow with PKCE (S256) required, scopes
``openid email profile groups`` and claims ``email``, ``email_verified``, ``name``, ``groups``.
Users live in a JSON file that the provider re-reads on every login and claims lookup, so
``set_users`` between two logins changes what the next tokens say.

Invariants:
- the node process listens on 127.0.0.1 only and picks its own free port (no bind race);
- ``stop()`` (and leaving the ``with`` block, and the fixture teardown) always ends the node
  process; if the Python process dies first, node exits when its stdin pipe closes;
- a missing ``node_modules`` raises ``OidcProviderError`` telling to run
  ``scripts/install_test_deps.sh`` (never a skip).

No Django imports: the lead wires ``issuer`` and the endpoint URLs into settings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
READY_PREFIX = "OIDC_PROVIDER_READY "

User = Mapping[str, Any]


class OidcProviderError(RuntimeError):
    """The provider could not be started or did not answer as expected."""


def pkce_pair() -> tuple[str, str]:
    """Return ``(code_verifier, code_challenge)`` for PKCE S256 (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


class _LoginFormParser(HTMLParser):
    """Finds the provider's ``#login-form`` action (the only form the provider renders)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "login-form":
            self.action = attributes.get("action")


def login_form_action(html: str) -> str | None:
    """Return the action URL path of the provider's login form in ``html``, or None."""
    parser = _LoginFormParser()
    parser.feed(html)
    return parser.action


class OidcProvider:
    """Context manager running the local OIDC provider.

    Usage::

        with OidcProvider({"alice": {...}}, client_id="portal", client_secret="s",
                          redirect_uris=["http://127.0.0.1:8000/oidc/callback/"]) as op:
            op.issuer, op.authorization_endpoint, op.token_endpoint, ...

    ``users`` maps username (the OIDC ``sub``) to ``{"password", "email", "name", "groups",
    "email_verified"?, "omit_claims"?}``; ``email_verified`` is sent as given (default ``true``),
    ``omit_claims`` lists claims left out entirely.
    """

    def __init__(
        self,
        users: Mapping[str, User],
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        *,
        post_logout_redirect_uris: Sequence[str] = (),
        token_endpoint_auth_method: str = "client_secret_post",  # noqa: S107 - a method name, not a secret
        node: str = "node",
        startup_timeout: float = 30.0,
    ) -> None:
        if token_endpoint_auth_method not in ("client_secret_post", "client_secret_basic"):
            raise ValueError(f"unsupported token_endpoint_auth_method: {token_endpoint_auth_method}")
        if not redirect_uris or any("," in uri for uri in [*redirect_uris, *post_logout_redirect_uris]):
            raise ValueError("redirect_uris must be a non-empty list of URIs without commas")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.post_logout_redirect_uris = list(post_logout_redirect_uris)
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self._initial_users = dict(users)
        self._node = node
        self._startup_timeout = startup_timeout
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.issuer = ""
        self.discovery: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OidcProvider:
        """Start node and wait for the discovery document. Idempotent while running."""
        if self._proc is not None:
            return self
        check_installed()
        node = shutil.which(self._node)
        if node is None:
            raise OidcProviderError(f"{self._node!r} not found on PATH; install Node.js 20+")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.set_users(self._initial_users)
        log_path = self._tmpdir / "provider.log"
        self._log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {
            **os.environ,
            "OIDC_PORT": "0",
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            "OIDC_REDIRECT_URIS": ",".join(self.redirect_uris),
            "OIDC_POST_LOGOUT_REDIRECT_URIS": ",".join(self.post_logout_redirect_uris),
            "OIDC_CLIENT_AUTH_METHOD": self.token_endpoint_auth_method,
            "OIDC_USERS_FILE": str(self.users_file),
            "OIDC_EXIT_ON_STDIN_EOF": "1",
            "NODE_ENV": "development",
        }
        # stdout+stderr go to a file (no pipe to drain); stdin is a pipe we never write to, so
        # node sees EOF if this process dies without calling stop().
        self._proc = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT)],
            cwd=PROVIDER_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            self.issuer = self._wait_ready(log_path)
            self.discovery = self._wait_discovery()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the node process (SIGTERM, then SIGKILL) and remove the temp dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.stdin is not None:
                proc.stdin.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """The provider's stdout+stderr so far (for assertion messages)."""
        if self._tmpdir is None:
            return ""
        return (self._tmpdir / "provider.log").read_text(errors="replace")

    def _wait_ready(self, log_path: Path) -> str:
        deadline = time.monotonic() + self._startup_timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX) :].strip()
            if self._proc.poll() is not None:
                output = log_path.read_text(errors="replace")
                raise OidcProviderError(f"OIDC provider exited with {self._proc.returncode}:\n{output}")
            time.sleep(0.05)
        raise OidcProviderError(
            f"OIDC provider not ready after {self._startup_timeout}s:\n{log_path.read_text(errors='replace')}"
        )

    def _wait_discovery(self) -> dict[str, Any]:
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + self._startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(url, timeout=2)
                response.raise_for_status()
                document: dict[str, Any] = response.json()
                return document
            except requests.RequestException as exc:
                last_error = exc
                time.sleep(0.05)
        raise OidcProviderError(f"discovery {url} not reachable: {last_error}\n{self.log()}")

    # -- users -------------------------------------------------------------------------------

    @property
    def users_file(self) -> Path:
        if self._tmpdir is None:
            raise OidcProviderError("provider not started")
        return self._tmpdir / "users.json"

    def set_users(self, users: Mapping[str, User]) -> None:
        """Replace all users atomically; the next login/token/userinfo sees the new data."""
        for name, user in users.items():
            if not isinstance(user.get("password"), str):
                raise ValueError(f"user {name!r} needs a string 'password'")
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(users)))
        os.replace(tmp, self.users_file)

    # -- endpoints ---------------------------------------------------------------------------

    def _endpoint(self, key: str) -> str:
        if not self.discovery:
            raise OidcProviderError("provider not started")
        return str(self.discovery[key])

    @property
    def authorization_endpoint(self) -> str:
        return self._endpoint("authorization_endpoint")

    @property
    def token_endpoint(self) -> str:
        return self._endpoint("token_endpoint")

    @property
    def userinfo_endpoint(self) -> str:
        return self._endpoint("userinfo_endpoint")

    @property
    def jwks_uri(self) -> str:
        return self._endpoint("jwks_uri")

    @property
    def end_session_endpoint(self) -> str:
        return self._endpoint("end_session_endpoint")

    # -- pure-HTTP login helper --------------------------------------------------------------

    def login(
        self,
        authorize_url: str,
        username: str,
        password: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Log in through the HTML form without a browser; return the redirect to the RP.

        ``authorize_url`` is the full authorization request (e.g. the Location an RP's
        ``/oidc/authenticate/`` redirected to). Follows the provider's own redirects and stops at
        the first redirect whose target is not on the issuer, which is the RP callback URL
        carrying ``code``/``state`` (or ``error``). Raises ``OidcProviderError`` if the login is
        rejected (wrong password: HTTP 401) or the flow does not end at a redirect off-issuer.
        """
        http = session or requests.Session()
        url = authorize_url
        for _ in range(10):
            response = http.get(url, allow_redirects=False, timeout=timeout)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                if not url.startswith(self.issuer + "/"):
                    return url
                continue
            action = login_form_action(response.text)
            if response.status_code != 200 or action is None:
                raise OidcProviderError(
                    f"expected the login form at {url}, got HTTP {response.status_code}: {response.text[:500]}"
                )
            posted = http.post(
                urljoin(url, action),
                data={"login": username, "password": password},
                allow_redirects=False,
                timeout=timeout,
            )
            if not posted.is_redirect:
                raise OidcProviderError(f"login rejected for {username!r}: HTTP {posted.status_code}")
            url = urljoin(url, posted.headers["Location"])
            if not url.startswith(self.issuer + "/"):
                return url
        raise OidcProviderError(f"too many redirects while logging in, last URL {url}")


def check_installed() -> None:
    """Raise ``OidcProviderError`` unless the provider's npm dependencies are installed."""
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise OidcProviderError(
            f"{PROVIDER_DIR / 'node_modules'} is missing: run scripts/install_test_deps.sh "
            "(installs chromium and the npm packages for the test OIDC provider)"
        )


OidcProviderFactory = Callable[..., OidcProvider]


@pytest.fixture
def oidc_provider_factory() -> Iterator[OidcProviderFactory]:
    """Fixture returning ``make(users, client_id, client_secret, redirect_uris, **kw)``.

    Each call starts a provider (same arguments as ``OidcProvider``); all are stopped at test
    teardown, even when the test fails.
    """
    started: list[OidcProvider] = []

    def make(
        users: Mapping[str, User],
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        **kwargs: Any,
    ) -> OidcProvider:
        provider = OidcProvider(users, client_id, client_secret, redirect_uris, **kwargs)
        started.append(provider)
        return provider.start()

    yield make
    for provider in started:
        provider.stop()
