"""The console in headless Chromium against the live server: login, tenant switcher, tokens, audit."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tenants.actors import Actor
from tenants.services import audit_record
from tests.conftest import PASSWORD
from tests.factories.tenants import MembershipFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SECRET_RE = re.compile(r"^llmp_[0-9a-f]{12}\.[A-Za-z0-9_-]{40,}$")


@pytest.fixture
def two_tenant_user(owner_a, tenant_b, owner_b):
    """owner@acme.test: owner of Acme, viewer in Globex."""
    MembershipFactory(tenant=tenant_b, user=owner_a.user, role="viewer")
    audit_record(tenant=owner_a.tenant, actor=Actor.system(), action="tests.other.thing")
    return owner_a.user


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_login_dashboard_and_tenant_switcher(page: Page, live_server, two_tenant_user):
    login(page, live_server.url, "owner@acme.test")
    expect(page).to_have_url(f"{live_server.url}/t/acme/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
    expect(page.locator(".badge").first).to_have_text("owner")
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link")).to_have_text(_nav_labels("owner"))
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(1)

    switcher = page.locator("#tenant-switcher")
    expect(switcher.locator("option")).to_have_text(["Acme (owner)", "Globex (viewer)"])
    switcher.select_option("globex")
    expect(page).to_have_url(f"{live_server.url}/t/globex/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Globex")
    expect(page.locator("#tenant-switcher")).to_have_value("globex")
    # A viewer in Globex: no audit log in the navigation.
    viewer_nav = page.get_by_role("navigation", name="Sections")
    expect(viewer_nav.get_by_role("link")).to_have_text(_nav_labels("viewer"))
    expect(viewer_nav.get_by_role("link", name="Audit log")).to_have_count(0)


def test_wrong_password_shows_an_error(page: Page, live_server, owner_a):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username or email").fill("owner@acme.test")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    expect(page).to_have_url(re.compile(r"/login/$"))


def test_create_token_secret_shown_once(page: Page, live_server, two_tenant_user):
    login(page, live_server.url, "owner@acme.test")
    page.goto(f"{live_server.url}/t/acme/tokens/")
    page.get_by_label("Name").fill("browser-token")
    page.get_by_label("admin").check()
    page.get_by_role("button", name="Create token").click()

    secret = page.get_by_test_id("token-secret")
    expect(secret).to_be_visible()
    value = secret.inner_text().strip()
    assert SECRET_RE.match(value), value
    expect(page.locator("#new-token")).to_contain_text("it will not be shown again")
    row = page.get_by_role("row").filter(has_text="browser-token")
    expect(row).to_contain_text("admin, read")
    expect(row).to_contain_text(value.split(".")[0])  # the prefix stays visible

    page.reload()
    expect(page.get_by_test_id("token-secret")).to_have_count(0)
    assert value not in page.content()
    expect(page.get_by_role("row").filter(has_text="browser-token")).to_have_count(1)

    me = requests.get(f"{live_server.url}/api/v1/me/", headers={"Authorization": f"Bearer {value}"}, timeout=10)
    assert me.status_code == 200 and me.json()["scopes"] == ["admin", "read"]


def test_audit_log_filter_and_csv_export(page: Page, live_server, two_tenant_user):
    login(page, live_server.url, "owner@acme.test")
    page.goto(f"{live_server.url}/t/acme/tokens/")
    page.get_by_label("Name").fill("audited")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("token-secret")).to_be_visible()

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(f"{live_server.url}/t/acme/audit/")
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("tenants.apitoken.created")
    expect(table).to_contain_text("tests.other.thing")

    page.get_by_label("Action").fill("tenants.apitoken.")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"\?.*action=tenants\.apitoken\."))  # htmx pushed the filter
    expect(table).not_to_contain_text("tests.other.thing")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("owner@acme.test")

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "audit-acme.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [r["action"] for r in rows] == ["tenants.apitoken.created"]
    assert '"audited"' in rows[0]["changes"]


def test_unknown_tenant_and_outsider_get_the_404_page(page: Page, live_server, owner_a, owner_b):
    login(page, live_server.url, "owner@acme.test")
    for slug in ("nope", "globex"):
        resp = page.goto(f"{live_server.url}/t/{slug}/tokens/")
        assert resp.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


def _nav_labels(role: str) -> list[str]:
    """Every app registers its pages; a role sees those whose capability its role holds."""
    from tenants.console.nav import NAV
    from tenants.permissions import CAPABILITIES, role_at_least

    return [item.label for item in NAV if role_at_least(role, CAPABILITIES[item.capability][0])]
