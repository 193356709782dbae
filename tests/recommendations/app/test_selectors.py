"""user_history runs a statement compiled once per process: it must return exactly what the
tenant-scoped ORM queryset returns, stay inside the tenant, and honour the limit and order."""

from __future__ import annotations

import datetime as dt

import pytest

from recommendations.models import CatalogItem, Event
from recommendations.selectors import user_history
from tenants.querysets import TenantScopeError


def _orm_history(tenant, user_id: str, limit: int) -> list[tuple[str, str, float, float | None]]:
    rows = (
        Event.objects.for_tenant(tenant)
        .filter(user_id=user_id)
        .order_by("-timestamp")
        .values_list("item__external_id", "type", "timestamp", "value")[:limit]
    )
    return [(ext, etype, ts.timestamp(), value) for ext, etype, ts, value in rows]


def test_matches_the_orm_queryset_for_every_user_and_limit(tenant_a, seed):
    seed(tenant_a, n_users=30)
    users = sorted(set(Event.objects.for_tenant(tenant_a).values_list("user_id", flat=True)))
    assert len(users) == 30
    for limit in (1, 3, 500):
        for user in users:
            got = user_history(tenant=tenant_a, user_id=user, limit=limit)
            assert got == _orm_history(tenant_a, user, limit), (user, limit)
            assert len(got) == min(limit, 6)  # 4 purchases + 2 views per user
            assert [t for _, _, t, _ in got] == sorted((t for _, _, t, _ in got), reverse=True)


def test_values_and_naive_timestamps_round_trip(tenant_a):
    item = CatalogItem.objects.create(tenant=tenant_a, external_id="x1", title="X")
    at = dt.datetime(2024, 3, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
    Event.objects.create(tenant=tenant_a, user_id="u", item=item, type="rating", value=4.5, timestamp=at)
    assert user_history(tenant=tenant_a, user_id="u", limit=10) == [("x1", "rating", at.timestamp(), 4.5)]


def test_stays_inside_the_tenant(tenant_a, tenant_b):
    for tenant, ext in ((tenant_a, "mine"), (tenant_b, "theirs")):
        item = CatalogItem.objects.create(tenant=tenant, external_id=ext, title=ext)
        Event.objects.create(
            tenant=tenant, user_id="same-user", item=item, type="view", timestamp=dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
        )
    assert [h[0] for h in user_history(tenant=tenant_a, user_id="same-user", limit=10)] == ["mine"]
    assert [h[0] for h in user_history(tenant=tenant_b, user_id="same-user", limit=10)] == ["theirs"]
    assert user_history(tenant=tenant_a, user_id="nobody", limit=10) == []


def test_refuses_a_missing_tenant(db):
    with pytest.raises(TenantScopeError):
        user_history(tenant=None, user_id="u", limit=10)  # type: ignore[arg-type]
