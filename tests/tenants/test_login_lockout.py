"""Password-login lockout on the console and Django admin logins: per username and per client
address, cache-based, audited, with a clear message and Retry-After."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tenants.login_guard import LOCKED_ACTION, THROTTLED_ACTION
from tests.factories.tenants import UserFactory
from tests.tenants.helpers import events

PASSWORD = "pw-correct-horse"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_MAX_FAILURES_PER_USERNAME = 5
    settings.LOGIN_MAX_FAILURES_PER_IP = 8
    settings.LOGIN_FAILURE_WINDOW_S = 900
    settings.TRUSTED_PROXY_NETWORKS = []


def _login(client: Client, username: str, password: str, ip: str = "192.0.2.10", path: str = "/login/"):
    data = {"username": username, "password": password}
    if path.startswith("/admin/"):
        data["next"] = "/admin/"
    return client.post(path, data, REMOTE_ADDR=ip)


def test_five_wrong_passwords_lock_the_console_login(viewer_a):
    client = Client()
    for _ in range(4):
        resp = _login(client, "viewer@acme.test", "wrong")
        assert resp.status_code == 200 and b"didn't match" in resp.content
    fifth = _login(client, "viewer@acme.test", "wrong")
    assert fifth.status_code == 429 and int(fifth["Retry-After"]) == 900
    assert b"Too many failed sign-in attempts for this account" in fifth.content
    assert b"Try again in 15 minutes" in fifth.content

    # Locked: even the right password does not sign in, and it is not even checked.
    refused = _login(client, "viewer@acme.test", PASSWORD)
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 900
    assert client.get("/t/acme/").status_code == 302  # still anonymous
    locked = events(LOCKED_ACTION)
    assert len(locked) == 1 and locked[0].changes == {
        "username": "viewer@acme.test",
        "scope": "username",
        "failures": 5,
        "locked_for_s": 900,
    }
    assert locked[0].ip == "192.0.2.10" and locked[0].tenant_id is None
    throttled = events(THROTTLED_ACTION)
    assert len(throttled) == 1 and throttled[0].changes["scope"] == "username"
    assert len(events("tenants.user.login_failed")) == 5  # the refused attempt never reached authenticate()
    # The lock is per username, in any spelling, from any address.
    assert _login(Client(), " VIEWER@acme.test", PASSWORD, ip="198.51.100.3").status_code == 429


def test_the_lock_ends_after_the_window(viewer_a, settings):
    settings.LOGIN_FAILURE_WINDOW_S = 1
    client = Client()
    for _ in range(5):
        _login(client, "viewer@acme.test", "wrong")
    assert _login(client, "viewer@acme.test", PASSWORD).status_code == 429
    time.sleep(1.2)
    ok = _login(client, "viewer@acme.test", PASSWORD)
    assert ok.status_code == 302 and client.get("/t/acme/").status_code == 200


def test_a_success_clears_the_username_count_but_not_the_address_count(viewer_a):
    for _ in range(4):
        _login(Client(), "viewer@acme.test", "wrong")
    assert _login(Client(), "viewer@acme.test", PASSWORD).status_code == 302
    for _ in range(3):
        assert _login(Client(), "viewer@acme.test", "wrong").status_code == 200
    assert not events(LOCKED_ACTION)
    # The address has 7 failures now; one account's success did not reset them.
    assert _login(Client(), "viewer@acme.test", "wrong").status_code == 429
    assert events(LOCKED_ACTION)[-1].changes["scope"] == "ip"


def test_guessing_across_usernames_locks_the_address(viewer_a, editor_a):
    """Password spraying: one guess per username, many usernames, one address."""
    for i in range(8):
        resp = _login(Client(), f"user{i}@acme.test", "Winter2025!")
    assert resp.status_code == 429 and b"your network address" in resp.content
    assert _login(Client(), "viewer@acme.test", PASSWORD).status_code == 429  # from that address
    assert _login(Client(), "editor@acme.test", PASSWORD, ip="198.51.100.3").status_code == 302  # elsewhere
    assert events(LOCKED_ACTION)[-1].changes["scope"] == "ip"


def test_a_forged_forwarded_for_does_not_dodge_the_address_lock(viewer_a):
    for i in range(8):
        Client().post(
            "/login/",
            {"username": f"user{i}@acme.test", "password": "x"},
            REMOTE_ADDR="192.0.2.10",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        )
    resp = Client().post(
        "/login/",
        {"username": "viewer@acme.test", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.10",
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert resp.status_code == 429


def test_the_admin_login_has_the_same_lock(db):
    UserFactory(username="root@platform.test", is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(4):
        resp = _login(client, "root@platform.test", "wrong", path="/admin/login/")
        assert resp.status_code == 200 and b"Please enter the correct" in resp.content
    fifth = _login(client, "root@platform.test", "wrong", path="/admin/login/")
    assert b"Too many failed sign-in attempts for this account" in fifth.content
    refused = _login(client, "root@platform.test", PASSWORD, path="/admin/login/")
    assert refused.status_code == 200 and b"sign-in is locked" in refused.content
    assert client.get("/admin/").status_code == 302  # not signed in
    assert events(LOCKED_ACTION)[-1].changes["username"] == "root@platform.test"
    assert events(THROTTLED_ACTION)[-1].changes["username"] == "root@platform.test"
    # The same counter: the console login is locked for that username too.
    assert _login(Client(), "root@platform.test", PASSWORD).status_code == 429
