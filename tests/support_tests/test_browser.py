"""Smoke tests of the Playwright fixtures: headless Debian Chromium, and the OIDC login form."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

import tests.support.oidc as oidc_support
from tests.support.browser import CHROMIUM_PATH

from .conftest import LocalHttpServer
from .test_oidc_provider import CLIENT_ID, authorize_url, exchange, query_of, users, verified_id_token

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(120)]


def test_browser_is_debian_chromium(browser: Browser) -> None:
    assert CHROMIUM_PATH == "/usr/bin/chromium"
    assert browser.is_connected()
    assert int(browser.version.split(".")[0]) >= 120


def test_click_changes_dom(page: Page, local_http_server: LocalHttpServer) -> None:
    page.goto(f"{local_http_server.url}/")
    status = page.locator("#status")
    expect(status).to_have_text("idle")
    page.get_by_role("button", name="Go").click()
    expect(status).to_have_text("clicked")
    assert local_http_server.paths[0] == "/"


def test_contexts_do_not_share_cookies(browser: Browser, local_http_server: LocalHttpServer) -> None:
    first = browser.new_context()
    second = browser.new_context()
    try:
        first.add_cookies([{"name": "sid", "value": "1", "url": local_http_server.url}])
        assert [c["name"] for c in first.cookies()] == ["sid"]
        assert second.cookies() == []
    finally:
        first.close()
        second.close()


@pytest.fixture
def browser_op(
    oidc_provider_factory: oidc_support.OidcProviderFactory, local_http_server: LocalHttpServer
) -> oidc_support.OidcProvider:
    return oidc_provider_factory(
        users(["acme:admin"]),
        CLIENT_ID,
        "not-a-real-secret-0123456789",
        [f"{local_http_server.url}/oidc/callback/"],
        post_logout_redirect_uris=[f"{local_http_server.url}/logged-out/"],
    )


def test_login_form_in_chromium_reaches_redirect(
    page: Page, browser_op: oidc_support.OidcProvider, local_http_server: LocalHttpServer
) -> None:
    redirect_uri = f"{local_http_server.url}/oidc/callback/"
    url, verifier = authorize_url(browser_op, redirect_uri)
    page.goto(url)
    assert page.url.startswith(f"{browser_op.issuer}/interaction/")

    page.fill("#login", "alice")
    page.fill("#password", "wrong")
    page.click("#submit")
    expect(page.locator("#error")).to_contain_text("Invalid username or password")
    assert page.url.startswith(f"{browser_op.issuer}/interaction/")

    page.fill("#password", "alice-pw")
    with page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
        page.click("#submit")
    params = query_of(page.url)
    assert params["state"] == "state-123"
    assert any(p.startswith("/oidc/callback/?code=") for p in local_http_server.paths)

    # The code the browser carried is a real one: exchange it outside the browser.
    tokens = exchange(browser_op, params["code"], verifier, redirect_uri)
    assert tokens.status_code == 200, tokens.text
    claims = verified_id_token(browser_op, tokens.json()["id_token"])
    assert claims["sub"] == "alice"
    assert claims["groups"] == ["acme:admin"]

    # The provider session cookie makes the next authorization silent (SSO) in this context.
    url, _ = authorize_url(browser_op, redirect_uri)
    page.goto(url)
    assert page.url.startswith(redirect_uri)
    assert "code" in query_of(page.url)


def test_rp_initiated_logout_round_trip(
    page: Page, browser_op: oidc_support.OidcProvider, local_http_server: LocalHttpServer
) -> None:
    redirect_uri = f"{local_http_server.url}/oidc/callback/"
    url, verifier = authorize_url(browser_op, redirect_uri)
    page.goto(url)
    page.fill("#login", "alice")
    page.fill("#password", "alice-pw")
    with page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
        page.click("#submit")
    id_token = exchange(browser_op, query_of(page.url)["code"], verifier, redirect_uri).json()["id_token"]

    # The logout confirmation submits itself; the browser ends at post_logout_redirect_uri.
    logged_out = f"{local_http_server.url}/logged-out/"
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": logged_out, "state": "bye"})
    with page.expect_navigation(url=lambda u: u.startswith(logged_out)):
        page.goto(f"{browser_op.end_session_endpoint}?{query}")
    assert query_of(page.url)["state"] == "bye"

    # The provider session is gone: the next authorization asks for the password again.
    page.goto(authorize_url(browser_op, redirect_uri)[0])
    assert page.url.startswith(f"{browser_op.issuer}/interaction/")
    expect(page.locator("#login-form")).to_be_visible()
