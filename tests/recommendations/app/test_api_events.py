from __future__ import annotations

import datetime as dt

import pytest

from recommendations.models import CatalogItem, Event

URL = "/api/v1/events/"
TS = "2024-05-01T12:00:00Z"


@pytest.fixture
def client_a(api, make_token, owner_a, tenant_a):
    client = api(make_token(owner_a, ["write"]))
    resp = client.post(
        "/api/v1/catalog/items/",
        [{"external_id": "i1", "title": "One"}, {"external_id": "i2", "title": "Two"}],
        format="json",
    )
    assert resp.status_code == 200
    return client


def test_ingest_happy_path_and_list(client_a, tenant_a):
    rows = [
        {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": TS},
        {
            "user_id": "u1",
            "item_id": "i2",
            "type": "rating",
            "value": 4.5,
            "timestamp": 1714564800,
            "context": {"page": "home"},
        },
        {"user_id": 42, "item_id": "i2", "type": "purchase", "timestamp": "2024-05-01T14:00:00+02:00"},
    ]
    resp = client_a.post(URL, {"events": rows}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"received": 3, "created": 3, "duplicates": 0, "rejected": 0, "errors": []}
    ev = Event.objects.for_tenant(tenant_a).get(type="rating")
    assert (
        ev.value == 4.5
        and ev.context == {"page": "home"}
        and ev.timestamp == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    )
    assert Event.objects.for_tenant(tenant_a).get(type="purchase").user_id == "42"
    listed = client_a.get(URL, {"user_id": "u1"}).json()["results"]
    assert sorted(r["item_id"] for r in listed) == ["i1", "i2"]


def test_duplicates_are_stored_once_and_counted(client_a, tenant_a):
    row = {"user_id": "u1", "item_id": "i1", "type": "click", "timestamp": TS}
    first = client_a.post(URL, [row, row, {**row, "type": "view"}], format="json").json()
    assert (first["created"], first["duplicates"]) == (2, 1)
    again = client_a.post(URL, [row, {**row, "timestamp": "2024-05-01T12:00:00+00:00"}], format="json").json()
    assert (again["created"], again["duplicates"], again["rejected"]) == (0, 2, 0)
    assert Event.objects.for_tenant(tenant_a).count() == 2


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ({"item_id": "nope"}, "item_id", "Unknown item_id 'nope'"),
        ({"timestamp": "yesterday"}, "timestamp", "not ISO 8601"),
        ({"timestamp": "2024-13-45T00:00:00"}, "timestamp", "not ISO 8601"),
        ({"timestamp": None}, "timestamp", "required"),
        ({"timestamp": "1970-01-02T00:00:00Z"}, "timestamp", "before 1990"),
        ({"timestamp": "2999-01-01T00:00:00Z"}, "timestamp", "in the future"),
        ({"type": "like"}, "type", "not one of"),
        ({"type": "rating", "value": -1}, "value", "negative"),
        ({"type": "rating", "value": 11}, "value", "above the limit of 10"),
        ({"value": 1e300}, "value", "above the limit"),
        ({"value": "NaN"}, "value", "finite"),
        ({"value": "lots"}, "value", "not a number"),
        ({"user_id": "u" * 257}, "user_id", "limit is 256"),
        ({"user_id": "u" * 10_240}, "user_id", "limit is 256"),
        ({"user_id": ""}, "user_id", "must not be empty"),
        ({"context": [1, 2]}, "context", "JSON object"),
    ],
)
def test_bad_rows_are_rejected_with_row_numbers_and_nothing_else_lost(client_a, tenant_a, row, field, fragment):
    good = {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": TS}
    body = client_a.post(URL, [good, {**good, **row}, {**good, "item_id": "i2"}], format="json").json()
    assert (body["received"], body["created"], body["rejected"]) == (3, 2, 1)
    [err] = body["errors"]
    assert (err["row"], err["field"]) == (2, field)
    assert fragment in err["message"]
    assert Event.objects.for_tenant(tenant_a).count() == 2


def test_another_tenants_item_id_is_an_unknown_item(client_a, api, make_token, owner_b, tenant_a, tenant_b):
    api(make_token(owner_b, ["write"])).post(
        "/api/v1/catalog/items/", [{"external_id": "b-only", "title": "B"}], format="json"
    )
    body = client_a.post(
        URL, [{"user_id": "u", "item_id": "b-only", "type": "view", "timestamp": TS}], format="json"
    ).json()
    assert body["rejected"] == 1 and "Unknown item_id 'b-only'" in body["errors"][0]["message"]
    assert Event.objects.for_tenant(tenant_a).count() == 0
    assert Event.objects.for_tenant(tenant_b).count() == 0


def test_100k_row_request_is_refused_with_a_clear_message(client_a, tenant_a):
    rows = [{"user_id": "u", "item_id": "i1", "type": "view", "timestamp": 1714564800 + n} for n in range(100_000)]
    resp = client_a.post(URL, rows, format="json")
    assert resp.status_code == 413
    assert "Split it into batches of at most 10,000" in resp.json()["detail"]
    assert Event.objects.for_tenant(tenant_a).count() == 0


def test_body_that_is_not_a_list_is_400(client_a):
    resp = client_a.post(URL, {"rows": []}, format="json")
    assert resp.status_code == 400 and "JSON list of events" in resp.json()["detail"]


def test_stats(client_a, tenant_a):
    client_a.post(
        URL,
        [
            {"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "2024-05-01T10:00:00Z"},
            {"user_id": "u1", "item_id": "i1", "type": "purchase", "timestamp": "2024-05-01T11:00:00Z"},
            {"user_id": "u2", "item_id": "i2", "type": "view", "timestamp": "2024-05-02T10:00:00Z"},
        ],
        format="json",
    )
    stats = client_a.get(f"{URL}stats/").json()
    assert stats["total"] == 3 and stats["users"] == 2
    assert stats["by_type"] == {"view": 2, "purchase": 1}
    assert [(d["day"], d["total"]) for d in stats["per_day"]] == [("2024-05-01", 2), ("2024-05-02", 1)]
    assert stats["top_items"][0] == {"item_id": "i1", "title": "One", "events": 2}
    assert CatalogItem.objects.for_tenant(tenant_a).count() == 2
