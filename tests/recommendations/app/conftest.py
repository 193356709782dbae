"""Fixtures for the recommendations app tests (Django side): catalogs, events, trained runs.

Synthetic data: the engine tests' co-purchase pairs (tests/recommendations/conftest.py), moved to
2024 so the API's timestamp checks accept them. Buyers of one side of a pair buy the other side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser

from recommendations import serving_cache
from recommendations.models import TrainingRun
from recommendations.services import catalog_items_upsert, events_ingest, training_run_start
from recommendations.tasks import training_run_task
from tenants.actors import Actor
from tenants.models import Tenant
from tests.recommendations.conftest import co_purchase_events, pair_items
from tests.support.browser import browser_context, page, pytest_runtest_makereport, running_chromium

__all__ = ["browser_context", "page", "pytest_runtest_makereport"]

BASE_TS = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings: Any) -> Iterator[None]:
    # Every request re-reads the stamps, so tests see activations and catalog changes at once.
    settings.RECS_SERVING_STAMP_TTL_S = 0
    serving_cache.clear()
    yield
    serving_cache.clear()


def catalog_rows() -> list[dict[str, Any]]:
    return [
        {
            "external_id": m.key,
            "title": m.title,
            "category": m.category,
            "tags": list(m.tags),
            "description": f"{m.title} for the {m.category.lower()}",
        }
        for m in pair_items().values()
    ]


def event_rows(n_users: int = 240) -> list[dict[str, Any]]:
    return [
        {"user_id": u, "item_id": i, "type": t, "value": v, "timestamp": BASE_TS + ts}
        for u, i, t, v, ts in co_purchase_events(n_users=n_users)
    ]


@pytest.fixture
def seed() -> Callable[..., None]:
    """seed(tenant, n_users=240): the pair catalog plus co-purchase events, through the services."""

    def make(tenant: Tenant, n_users: int = 240) -> None:
        actor = Actor.system(label="test")
        result = catalog_items_upsert(tenant=tenant, actor=actor, rows=catalog_rows())
        assert not result.errors
        ingested = events_ingest(tenant=tenant, actor=actor, rows=event_rows(n_users))
        assert not ingested.errors, ingested.errors[:3]

    return make


@pytest.fixture
def trained(django_capture_on_commit_callbacks: Any) -> Callable[..., TrainingRun]:
    """trained(tenant, content=False): queue a run and execute the task in this process."""

    def make(tenant: Tenant, content: bool = False, **params: Any) -> TrainingRun:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = training_run_start(
                tenant=tenant, actor=Actor.system(label="test"), params={"content": content, **params}
            )
        assert len(callbacks) == 1  # enqueued on commit, not before
        training_run_task(tenant_id=tenant.pk, run_id=run.pk)
        run.refresh_from_db()
        return run

    return make


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator[Browser]:
    """Module-scoped Chromium, as in tests/tenants/conftest.py: Playwright's sync API keeps an
    asyncio loop in the test thread, so Django's async guard is lifted only while it lives, and
    the test database is created before the loop starts."""
    with running_chromium(allow_async_unsafe=True) as instance:
        yield instance
