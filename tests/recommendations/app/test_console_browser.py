"""The recommendations console in headless Chromium: import a catalog, browse it, train, try it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from recommendations.models import CatalogItem, TrainingRun
from recommendations.services import events_ingest
from recommendations.tasks import training_run_task
from tenants.actors import Actor
from tests.conftest import PASSWORD
from tests.recommendations.app.conftest import event_rows

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = """external_id,title,description,category,tags,active
{rows}
bad-row,,missing title,Kitchen,,true
"""


def _csv() -> str:
    from tests.recommendations.conftest import pair_items

    rows = "\n".join(
        f"{m.key},{m.title},{m.title} for the {m.category.lower()},{m.category},{m.category.lower()},true"
        for m in pair_items().values()
    )
    return CSV.format(rows=rows)


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_import_browse_train_and_try(page: Page, live_server, owner_a, tenant_a, tmp_path):
    base = f"{live_server.url}/t/acme/recommendations/"
    login(page, live_server.url, "owner@acme.test")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Recommendations").click()
    expect(page).to_have_url(base)

    csv_path = tmp_path / "catalog.csv"
    csv_path.write_text(_csv())
    page.locator("#import-file").set_input_files(str(csv_path))
    page.locator("#import-submit").click()
    expect(page.locator("#import-result")).to_contain_text("24 created, 0 updated, 1 rejected")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    expect(page.locator("#import-errors tbody tr td").nth(0)).to_have_text("25")
    expect(page.locator("#import-errors")).to_contain_text("title must not be empty")
    assert CatalogItem.objects.for_tenant(tenant_a).count() == 24

    page.locator("#catalog-filter input[name=q]").fill("Pair 3")
    page.locator("#catalog-filter").get_by_role("button", name="Filter").click()
    expect(page.locator("#catalog-items tbody tr")).to_have_count(2)
    expect(page.locator("#catalog-items")).to_contain_text("Pair 3 item A")

    events_ingest(tenant=tenant_a, actor=Actor.system(), rows=event_rows(120))
    page.goto(f"{base}events/")
    expect(page.locator("#event-cards")).to_contain_text("720")
    page.goto(f"{base}training/")
    page.locator("#train-form input[name=content]").uncheck()
    page.locator("#train-submit").click()
    expect(page.locator(".msg.success")).to_contain_text("Training v1 queued")
    expect(page.locator("#training-runs")).to_contain_text("queued")
    run = TrainingRun.objects.for_tenant(tenant_a).get()
    assert run.params == {"content": False}
    training_run_task(tenant_id=tenant_a.pk, run_id=run.pk)  # the worker's job, run in this process
    run.refresh_from_db()
    assert run.status == "ready", run.error
    page.reload()
    expect(page.locator("#training-runs")).to_contain_text("active")
    expect(page.locator("#training-runs")).to_contain_text("720 events")

    page.get_by_role("link", name="Try it").click()
    page.locator("#try-user").fill("user007")
    page.locator("#try-submit").click()
    expect(page.locator("#try-results tbody tr").first).to_be_visible()
    expect(page.locator("#try-results")).to_contain_text("Because you bought")
    expect(page.locator("#try-meta")).to_contain_text("Model v1")

    page.locator("#try-user").fill("someone-new")
    page.locator("#try-submit").click()
    expect(page.locator("#try-meta")).to_contain_text("cold start")
    expect(page.locator("#try-results .reasons").first).to_have_text("Trending now")
