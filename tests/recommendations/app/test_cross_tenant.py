"""Cross-tenant coverage of every recommendations route and tenant-owned model (the shared mixin),
plus the detail actions: another tenant's object is 404 through every one of them."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from recommendations.models import CatalogItem, Event, Experiment, Exposure, TrainingRun
from tests.support.api_mixins import CrossTenantAPITests


def _item(tenant, ext="item-1"):
    return CatalogItem.objects.create(tenant=tenant, external_id=ext, title=f"{ext} of {tenant.slug}")


def _run(tenant, status=TrainingRun.Status.READY):
    return TrainingRun.objects.create(tenant=tenant, version=1, status=status)


def _experiment(tenant):
    return Experiment.objects.create(
        tenant=tenant,
        key="exp",
        variants=[
            {"name": "a", "weight": 1.0, "strategy": "popularity"},
            {"name": "b", "weight": 1.0, "strategy": "popularity"},
        ],
    )


def _detail_action_is_404(ctx, api, route, method="post", payload=None):
    client = api(ctx["token_a"])
    url_b = reverse(route, kwargs={"pk": ctx["obj_b"].pk})
    resp = getattr(client, method)(url_b, payload or {}, format="json")
    assert resp.status_code == 404, resp.content
    return client


class TestCatalogItemsAPI(CrossTenantAPITests):
    list_url = "api:catalogitem-list"
    detail_url = "api:catalogitem-detail"
    covers_routes = ["api:catalogitem-list", "api:catalogitem-detail", "api:catalogitem-deactivate"]
    model = CatalogItem
    write = ("post", "api:catalogitem-list", None, [{"external_id": "w", "title": "W"}])

    def make_object(self, tenant, membership):
        return _item(tenant)

    def test_deactivate_other_tenants_item_is_404(self, two_tenants, api):
        _detail_action_is_404(two_tenants, api, "api:catalogitem-deactivate")
        two_tenants["obj_b"].refresh_from_db()
        assert two_tenants["obj_b"].active is True


class TestEventsAPI(CrossTenantAPITests):
    list_url = "api:event-list"
    covers_routes = ["api:event-list", "api:event-stats"]
    model = Event
    write = (
        "post",
        "api:event-list",
        None,
        [{"user_id": "u", "item_id": "item-1", "type": "view", "timestamp": "2024-05-01T00:00:00Z"}],
    )

    def make_object(self, tenant, membership):
        return Event.objects.create(
            tenant=tenant,
            user_id=f"user-{tenant.slug}",
            item=_item(tenant),
            type="view",
            timestamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        )

    def test_stats_count_only_own_events(self, two_tenants, api):
        stats = api(two_tenants["token_a"]).get(reverse("api:event-stats")).json()
        assert stats["total"] == 1 and stats["top_items"][0]["title"] == "item-1 of xt-a"


class TestRecommendersAPI(CrossTenantAPITests):
    list_url = "api:recommender-list"
    detail_url = "api:recommender-detail"
    covers_routes = ["api:recommender-list", "api:recommender-detail", "api:recommender-activate"]
    model = TrainingRun
    write = ("post", "api:recommender-list", None, {"params": {"content": False}})

    def make_object(self, tenant, membership):
        return _run(tenant)

    def test_activate_other_tenants_run_is_404(self, two_tenants, api):
        _detail_action_is_404(two_tenants, api, "api:recommender-activate")
        assert not TrainingRun.objects.all_tenants().filter(is_active=True).exists()


class TestRecommendationsAPI(CrossTenantAPITests):
    list_url = "api:recommendations"
    covers_routes = ["api:recommendations"]
    read_scope = "recommend"

    def make_object(self, tenant, membership):
        return _item(tenant, ext=f"only-{tenant.slug}")

    def test_list_never_shows_other_tenant(self, two_tenants, api):
        resp = api(two_tenants["token_a"]).post(
            reverse(self.list_url), {"user_id": "u", "filters": {"exclude_item_ids": ["only-xt-b"]}}, format="json"
        )
        assert resp.status_code == 400
        assert resp.json()["unknown_item_ids"] == ["only-xt-b"]
        assert "only-xt-b of" not in resp.content.decode()

    def test_read_scope_token_may_not_query(self, two_tenants, api):
        token = two_tenants["make_token"](two_tenants["owner_a"], ["read"])
        resp = api(token).post(reverse(self.list_url), {"user_id": "u"}, format="json")
        assert resp.status_code == 403


class TestExperimentsAPI(CrossTenantAPITests):
    list_url = "api:experiment-list"
    detail_url = "api:experiment-detail"
    covers_routes = ["api:experiment-list", "api:experiment-detail", "api:experiment-stop", "api:experiment-results"]
    model = Experiment
    write = (
        "post",
        "api:experiment-list",
        None,
        {"key": "new", "variants": [{"name": "a", "strategy": "popularity"}, {"name": "b", "strategy": "popularity"}]},
    )
    write_role_too_low = "editor"

    def make_object(self, tenant, membership):
        return _experiment(tenant)

    def test_stop_and_results_of_other_tenants_experiment_are_404(self, two_tenants, api):
        _detail_action_is_404(two_tenants, api, "api:experiment-stop")
        _detail_action_is_404(two_tenants, api, "api:experiment-results", method="get")
        two_tenants["obj_b"].refresh_from_db()
        assert two_tenants["obj_b"].status == "running"

    def test_variant_pointing_at_other_tenants_run_is_refused(self, two_tenants, api):
        run_b = _run(two_tenants["tb"])
        resp = api(two_tenants["token_a"]).post(
            reverse("api:experiment-list"),
            {"key": "x", "variants": [{"name": "a", "strategy": "popularity"}, {"name": "b", "run_id": run_b.pk}]},
            format="json",
        )
        assert resp.status_code == 400 and f"recommender {run_b.pk} not found" in resp.json()["detail"]


class TestExposuresAPI(CrossTenantAPITests):
    list_url = "api:exposure-list"
    detail_url = "api:exposure-detail"
    covers_routes = ["api:exposure-list", "api:exposure-detail"]
    model = Exposure

    def make_object(self, tenant, membership):
        return Exposure.objects.create(
            tenant=tenant, experiment=_experiment(tenant), variant="a", user_id="u", item_ids=["item-1"]
        )
