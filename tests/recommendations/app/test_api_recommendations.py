from __future__ import annotations

import pytest

from recommendations.models import CatalogItem, Event
from recommendations.services import catalog_items_upsert
from tenants.actors import Actor

URL = "/api/v1/recommendations/"


@pytest.fixture
def served_a(tenant_a, seed, trained):
    seed(tenant_a)
    run = trained(tenant_a)
    assert run.status == "ready", run.error
    return run


@pytest.fixture
def rec_client(api, make_token, owner_a):
    return api(make_token(owner_a, ["recommend"]))


def _partner(item_id: str) -> str:
    return item_id[:-1] + ("b" if item_id.endswith("a") else "a")


def test_buyer_gets_the_other_side_of_the_pair_because_they_bought_it(served_a, rec_client, tenant_a):
    # user005 bought both sides of two pairs; give a new user one purchase and check the partner.
    resp = rec_client.post(URL, {"user_id": "user005", "k": 5}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["model_version"]["version"] == served_a.version and body["model_version"]["registry"] == "recommender:1"
    assert body["experiment"] is None and len(body["request_id"]) >= 8 and body["cold_start"] is False
    from recommendations.services import events_ingest
    from tests.recommendations.app.conftest import BASE_TS

    events_ingest(
        tenant=tenant_a,
        actor=Actor.system(),
        rows=[{"user_id": "fresh", "item_id": "p3a", "type": "purchase", "timestamp": BASE_TS + 400 * 86400}],
    )
    top = rec_client.post(URL, {"user_id": "fresh", "k": 3}, format="json").json()["items"]
    assert top[0]["item_id"] == "p3b"
    assert top[0]["title"] == "Pair 3 item B"
    assert "Because you bought Pair 3 item A" in top[0]["reasons"]
    assert all(i["item_id"] != "p3a" for i in top)  # exclude_seen defaults to true


def test_unknown_user_gets_cold_start_trending_items(served_a, rec_client):
    body = rec_client.post(URL, {"user_id": "never-seen", "k": 4}, format="json").json()
    assert body["cold_start"] is True and len(body["items"]) == 4
    assert all(i["reasons"] == ["Trending now"] for i in body["items"])
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_context_item_and_category_filter(served_a, rec_client):
    body = rec_client.post(URL, {"user_id": "nobody", "k": 2, "context": {"item_id": "p4a"}}, format="json").json()
    assert body["items"][0]["item_id"] == "p4b" and body["items"][0]["reasons"][0] == "Similar to Pair 4 item A"
    garden = rec_client.post(
        URL, {"user_id": "user001", "k": 10, "filters": {"category": "Garden"}}, format="json"
    ).json()
    assert garden["items"] and all(int(i["item_id"][1:-1]) % 2 == 1 for i in garden["items"])


def test_inactive_items_never_appear(served_a, rec_client, tenant_a):
    first = rec_client.post(URL, {"user_id": "never-seen", "k": 24}, format="json").json()["items"]
    top_id = first[0]["item_id"]
    catalog_items_upsert(
        tenant=tenant_a, actor=Actor.system(), rows=[{"external_id": top_id, "title": "gone", "active": False}]
    )
    after = rec_client.post(URL, {"user_id": "never-seen", "k": 24}, format="json").json()["items"]
    assert top_id not in {i["item_id"] for i in after}
    assert len(after) == len(first) - 1


@pytest.mark.parametrize("k", [0, -1, 101, 10_000])
def test_k_out_of_bounds_is_400(served_a, rec_client, k):
    resp = rec_client.post(URL, {"user_id": "u", "k": k}, format="json")
    assert resp.status_code == 400
    assert resp.json()["detail"] == "k: k must be between 1 and 100."


def test_user_id_of_10kb_is_400(served_a, rec_client):
    resp = rec_client.post(URL, {"user_id": "x" * 10_240, "k": 5}, format="json")
    assert resp.status_code == 400 and "user_id" in resp.json()["detail"]


def test_other_tenants_item_ids_in_filters_or_context_are_unknown(served_a, rec_client, tenant_b):
    catalog_items_upsert(tenant=tenant_b, actor=Actor.system(), rows=[{"external_id": "b-secret", "title": "B secret"}])
    for body in (
        {"user_id": "u", "filters": {"exclude_item_ids": ["p0a", "b-secret"]}},
        {"user_id": "u", "context": {"item_id": "b-secret"}},
        {"user_id": "u", "context": {"session_item_ids": ["b-secret"]}},
    ):
        resp = rec_client.post(URL, body, format="json")
        assert resp.status_code == 400, body
        detail = resp.json()["detail"]
        assert "'b-secret'" in detail and "not in this tenant's catalog" in detail and "B secret" not in detail
        assert resp.json()["unknown_item_ids"] == ["b-secret"]
    # ...and exactly the same answer for an id that exists nowhere (nothing to learn from it).
    nowhere = rec_client.post(URL, {"user_id": "u", "context": {"item_id": "b-nothing"}}, format="json").json()
    assert nowhere["detail"].replace("b-nothing", "b-secret") == resp.json()["detail"].replace(
        "context.session_item_ids", "context.item_id"
    )


def test_no_active_recommender_is_409(rec_client, tenant_a):
    resp = rec_client.post(URL, {"user_id": "u", "k": 3}, format="json")
    assert resp.status_code == 409 and "No recommender is active" in resp.json()["detail"]


def test_token_scopes(served_a, api, make_token, owner_a, viewer_a):
    assert api(make_token(owner_a, ["read"])).post(URL, {"user_id": "u"}, format="json").status_code == 403
    assert api(make_token(owner_a, ["write"])).post(URL, {"user_id": "u"}, format="json").status_code == 403
    assert api(make_token(viewer_a, ["recommend"])).post(URL, {"user_id": "u"}, format="json").status_code == 200


def test_serving_reads_nothing_of_another_tenant(served_a, seed, trained, tenant_b, api, make_token, owner_b):
    # Tenant B has the same external ids but renamed titles; its own model serves its own titles.
    seed(tenant_b, n_users=60)
    CatalogItem.objects.for_tenant(tenant_b).update(title="B title")
    run_b = trained(tenant_b)
    body = api(make_token(owner_b, ["recommend"])).post(URL, {"user_id": "user005", "k": 5}, format="json").json()
    assert body["model_version"]["id"] == run_b.pk
    assert {i["title"] for i in body["items"]} == {"B title"}
    assert Event.objects.for_tenant(tenant_b).filter(user_id="user100").count() == 0  # only 60 users in B
