from __future__ import annotations

from recommendations.models import CatalogItem
from recommendations.services import parse_catalog_file
from tenants.models import AuditEvent

URL = "/api/v1/catalog/items/"


def test_bulk_upsert_creates_then_updates_and_audits(api, make_token, owner_a, tenant_a):
    client = api(make_token(owner_a, ["write"]))
    rows = [
        {"external_id": "sku-1", "title": "Kettle", "category": "Kitchen", "tags": ["steel"], "attributes": {"w": 1}},
        {"external_id": "sku-2", "title": "Rake", "category": "Garden"},
    ]
    resp = client.post(URL, rows, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json() | {"errors": []} == {"received": 2, "created": 2, "updated": 0, "rejected": 0, "errors": []}
    resp = client.post(
        URL, {"items": [{"external_id": "sku-1", "title": "Steel kettle", "active": False}]}, format="json"
    )
    assert resp.json()["updated"] == 1 and resp.json()["created"] == 0
    item = CatalogItem.objects.for_tenant(tenant_a).get(external_id="sku-1")
    assert (item.title, item.active, item.category) == ("Steel kettle", False, "")
    changes = list(
        AuditEvent.objects.for_tenant(tenant_a)
        .filter(action="recommendations.catalogitem.imported")
        .order_by("seq")
        .values_list("changes", flat=True)
    )
    assert [(c["created"], c["updated"]) for c in changes] == [(2, 0), (0, 1)]


def test_invalid_rows_are_reported_with_row_numbers_and_valid_rows_kept(api, make_token, owner_a, tenant_a):
    rows = [
        {"external_id": "ok-1", "title": "Fine"},
        {"external_id": "", "title": "No id"},
        {"external_id": "ok-2"},
        {"external_id": "ok-3", "title": "Bad tags", "tags": {"a": 1}},
        {"external_id": "ok-1", "title": "Repeat"},
        "not an object",
        {"external_id": "x" * 300, "title": "Long id"},
        {"external_id": "ok-4", "title": "Fine too", "active": "maybe"},
        {"external_id": "ok-5", "title": "Kept", "tags": "a|b", "attributes": '{"colour": "red"}'},
    ]
    body = api(make_token(owner_a, ["write"])).post(URL, rows, format="json").json()
    assert body["created"] == 2 and body["rejected"] == 7
    assert [(e["row"], e.get("field")) for e in body["errors"]] == [
        (2, "external_id"),
        (3, "title"),
        (4, "tags"),
        (5, "external_id"),
        (6, None),
        (7, "external_id"),
        (8, "active"),
    ]
    assert "already appears in row 1" in body["errors"][3]["message"]
    kept = CatalogItem.objects.for_tenant(tenant_a).get(external_id="ok-5")
    assert kept.tags == ["a", "b"] and kept.attributes == {"colour": "red"}
    assert set(CatalogItem.objects.for_tenant(tenant_a).values_list("external_id", flat=True)) == {"ok-1", "ok-5"}


def test_list_filters_and_deactivate(api, make_token, owner_a, tenant_a):
    client = api(make_token(owner_a, ["write"]))
    client.post(
        URL,
        [
            {"external_id": "k1", "title": "Red kettle", "category": "Kitchen"},
            {"external_id": "k2", "title": "Blue kettle", "category": "Kitchen"},
            {"external_id": "g1", "title": "Rake", "category": "Garden", "description": "for red leaves"},
        ],
        format="json",
    )
    ids = lambda resp: sorted(r["external_id"] for r in resp.json()["results"])  # noqa: E731
    assert ids(client.get(URL, {"category": "Kitchen"})) == ["k1", "k2"]
    assert ids(client.get(URL, {"q": "red"})) == ["g1", "k1"]
    k1 = CatalogItem.objects.for_tenant(tenant_a).get(external_id="k1")
    resp = client.post(f"{URL}{k1.pk}/deactivate/")
    assert resp.status_code == 200 and resp.json()["active"] is False
    assert ids(client.get(URL, {"active": "false"})) == ["k1"]
    assert ids(client.get(URL, {"active": "true"})) == ["g1", "k2"]
    assert (
        AuditEvent.objects.for_tenant(tenant_a)
        .filter(action="recommendations.catalogitem.deactivated", target_id=str(k1.pk))
        .count()
        == 1
    )


def test_too_many_rows_is_413_with_a_split_message(api, make_token, owner_a, tenant_a):
    rows = [{"external_id": f"i{n}", "title": "t"} for n in range(10_001)]
    resp = api(make_token(owner_a, ["write"])).post(URL, rows, format="json")
    assert resp.status_code == 413
    assert "Split it into batches of at most 10,000" in resp.json()["detail"]
    assert CatalogItem.objects.for_tenant(tenant_a).count() == 0


def test_same_external_id_in_two_tenants_stays_separate(api, make_token, owner_a, owner_b, tenant_a, tenant_b):
    api(make_token(owner_a, ["write"])).post(URL, [{"external_id": "same", "title": "A's"}], format="json")
    api(make_token(owner_b, ["write"])).post(URL, [{"external_id": "same", "title": "B's"}], format="json")
    assert CatalogItem.objects.for_tenant(tenant_a).get(external_id="same").title == "A's"
    assert CatalogItem.objects.for_tenant(tenant_b).get(external_id="same").title == "B's"


def test_parse_catalog_file_csv_and_json():
    csv_rows = parse_catalog_file(name="c.csv", content=b"external_id,title,tags\nA,Alpha,x|y\nB,Beta,\n")
    assert csv_rows == [
        {"external_id": "A", "title": "Alpha", "tags": "x|y"},
        {"external_id": "B", "title": "Beta", "tags": ""},
    ]
    assert parse_catalog_file(name="c.json", content=b'{"items": [{"external_id": "A"}]}') == [{"external_id": "A"}]
