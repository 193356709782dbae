"""The API keeps its OpenAPI contract: regressions for what the fuzz run (tests/test_api_fuzz.py)
found, each as a plain request against the real app.

Unsupported methods answer 405 (TRACE/OPTIONS were a 500), malformed paging and filter values a
400 (they were silently ignored), JSON string fields refuse numbers, bodies are JSON only, and
the schema documents every error the API answers with the error body it sends.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support.fuzz_seed import seed_fuzz_tenant

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "qa", "recommend", "deploy", "admin"]


@pytest.fixture
def client_a(settings, tenant_a, owner_a, make_token, api):  # type: ignore[no-untyped-def]
    settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]
    seed_fuzz_tenant(tenant_a, owner_a)
    return api(make_token(owner_a, ALL_SCOPES))


@pytest.mark.parametrize("method", ["trace", "options"])
@pytest.mark.parametrize("path", ["/api/v1/documents/", "/api/v1/models/", "/api/v1/clusters/1/", "/api/v1/me/"])
def test_unsupported_methods_answer_405(client_a, method: str, path: str) -> None:
    response = client_a.generic(method.upper(), path)
    assert response.status_code == 405, response.content
    assert response.json()["code"] == "method_not_allowed"
    assert method.upper() not in response["Allow"]


def test_put_on_a_read_only_route_is_405(client_a) -> None:
    response = client_a.put("/api/v1/rollouts/1/", {}, format="json")
    assert response.status_code == 405


@pytest.mark.parametrize(
    "query",
    ["offset=1.5", "offset=-1", f"offset={2**40}", "limit=0", "limit=-3", "limit=abc", "offset=null"],
)
def test_malformed_paging_is_a_400_naming_the_parameter(client_a, query: str) -> None:
    response = client_a.get(f"/api/v1/documents/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(query.split("=")[0])


def test_paging_still_works_and_clamps_the_limit(client_a) -> None:
    body = client_a.get("/api/v1/documents/?limit=100000&offset=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit-events/?until=",
        "/api/v1/audit-events/?since=yesterday",
        "/api/v1/catalog/items/?active=null",
        "/api/v1/catalog/items/?active=true&active=false",
        "/api/v1/rollouts/?state=",
    ],
)
def test_empty_or_malformed_filters_are_a_400(client_a, path: str) -> None:
    response = client_a.get(path)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


def test_valid_filters_still_filter(client_a) -> None:
    assert client_a.get("/api/v1/catalog/items/?active=true").json()["count"] == 5
    assert client_a.get("/api/v1/catalog/items/?active=false").json()["count"] == 0
    assert client_a.get("/api/v1/catalog/items/?category=").status_code == 200  # free text: empty is a value


def test_a_number_is_not_a_string(client_a) -> None:
    model_id = client_a.get("/api/v1/models/").json()["results"][0]["id"]
    response = client_a.patch(f"/api/v1/models/{model_id}/", {"description": 0}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == "description: Not a valid string."
    ok = client_a.patch(f"/api/v1/models/{model_id}/", {"description": "0"}, format="json")
    assert ok.status_code == 200 and ok.json()["description"] == "0"


def test_bodies_are_json_only(client_a) -> None:
    # A form body carries HTML semantics ("" means null) the OpenAPI does not promise.
    response = client_a.post("/api/v1/tokens/", {"name": "x", "scopes": "read", "expires_at": ""}, format="multipart")
    assert response.status_code == 415, response.content


@pytest.mark.parametrize("path,key", [("/api/v1/catalog/items/", "items"), ("/api/v1/events/", "events")])
def test_bulk_rows_that_are_not_objects_are_reported_by_row(client_a, path: str, key: str) -> None:
    # The schema documents rows as any JSON value (each row is validated on its own), so a
    # non-object row is a reported row, not a schema violation the API accepts silently.
    body = client_a.post(path, {key: [[None, None]]}, format="json").json()
    assert body["rejected"] == 1 and body["errors"] == [{"row": 1, "message": "each row must be an object."}]


def test_every_operation_documents_the_errors_it_can_answer(client) -> None:
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    assert "ApiError" in schema["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 80
    for path, method, op in operations:
        missing = {"400", "401", "403", "404", "405", "406", "429"} - set(op["responses"])
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
        if method != "get":
            assert {"409", "413", "415"} <= set(op["responses"]), f"{method.upper()} {path}"
        # One error body for every operation: portal/openapi.py's ApiError (what
        # portal.api.exception_handler sends).
        error = op["responses"]["404"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ApiError"}
    for path, key in (("/api/v1/catalog/items/", "items"), ("/api/v1/events/", "events")):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        wrapped, bare = body["oneOf"]
        assert wrapped["properties"][key]["items"] == {} and bare["type"] == "array" and bare["items"] == {}
    rollouts = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/rollouts/"]["get"]["parameters"]}
    assert rollouts["deployment"]["type"] == "integer"
    export = schema["paths"]["/api/v1/audit-events/export/"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["type"] == "array" and "text/csv" in export


@pytest.mark.parametrize("path,key", [("/api/v1/catalog/items/", "items"), ("/api/v1/events/", "events")])
def test_bulk_routes_take_a_bare_list_too(client_a, path: str, key: str) -> None:
    body = client_a.post(path, [None, {}], format="json").json()
    assert body["received"] == 2 and body["rejected"] == 2
    assert body["errors"][0] == {"row": 1, "message": "each row must be an object."}


def test_audit_export_is_one_unpaginated_list(client_a) -> None:
    response = client_a.get("/api/v1/audit-events/export/?action=&actor=")
    assert response.status_code == 200
    events = response.json()
    assert isinstance(events, list) and len(events) >= 5
