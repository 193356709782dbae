"""POST /api/v1/capacity-plans/: the API layer over the pure planner (which has its own tests)."""

from __future__ import annotations

import pytest

from deploy.models import CapacityPlan
from tenants.models import AuditEvent

URL = "/api/v1/capacity-plans/"
CHAT = {"use_case": "chatbot", "concurrent_users": 20, "allowed_gpus": ["H100-SXM-80GB"], "name": "support bot"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_a(api, admin_a, make_token):
    return api(make_token(admin_a, ["write", "deploy"]))


def test_valid_plan_is_201_stored_with_data_versions(client_a, tenant_a):
    resp = client_a.post(URL, CHAT, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["feasible"] is True and body["name"] == "support bot"
    rec = body["result"]["recommended"]["primary"]
    assert rec["gpu"] == "H100-SXM-80GB" and rec["replicas"] >= 1
    assert rec["predicted"]["e2e_ms"]["provenance"] in {"benchmarked", "interpolated", "estimated"}
    assert set(body["data_versions"]) == {"benchmarks-v1.yaml", "gpus-v1.yaml", "models-v1.yaml", "templates-v1.yaml"}
    row = CapacityPlan.objects.for_tenant(tenant_a).get(pk=body["id"])
    assert row.inputs == {k: v for k, v in CHAT.items() if k != "name"}
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="deploy.capacityplan.created").count() == 1
    # listed and retrievable
    assert [p["id"] for p in client_a.get(URL).json()["results"]] == [body["id"]]
    assert client_a.get(f"{URL}{body['id']}/").json()["result"] == body["result"]


def test_same_input_same_plan(client_a):
    one = client_a.post(URL, CHAT, format="json").json()
    two = client_a.post(URL, CHAT, format="json").json()
    assert one["id"] != two["id"] and one["result"] == two["result"]


def test_impossible_slo_is_201_infeasible_with_reasons(client_a):
    resp = client_a.post(URL, {"use_case": "chatbot", "concurrent_users": 8, "ttft_slo_ms": 1}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["feasible"] is False and body["result"]["recommended"] is None
    assert any("TTFT SLO 1 ms is below the best achievable" in r for r in body["result"]["reasons"])


def test_budget_too_small_is_infeasible_with_reason(client_a):
    body = client_a.post(
        URL, {"use_case": "chatbot", "concurrent_users": 8, "monthly_budget_usd": 1}, format="json"
    ).json()
    assert body["feasible"] is False
    assert any("budget $1/month is below the cheapest feasible option" in r for r in body["result"]["reasons"])


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"use_case": "chatbot", "concurrent_users": 0}, "concurrent_users", "positive integer"),
        (
            {"use_case": "chatbot", "concurrent_users": 5, "allowed_gpus": ["B300"]},
            "allowed_gpus",
            "unknown GPU(s): B300",
        ),
        ({"use_case": "teleport", "concurrent_users": 5}, "use_case", "unknown use_case 'teleport'"),
        ({"use_case": "chatbot", "concurrent_users": 5, "colour": "red"}, None, "unknown plan input field(s): colour"),
        ({"concurrent_users": 5}, "use_case", "use_case is required"),
    ],
)
def test_invalid_input_is_400_naming_the_problem(client_a, tenant_a, payload, field, words):
    resp = client_a.post(URL, payload, format="json")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "invalid_plan_input" and words in body["detail"]
    assert body.get("field") == field
    assert not CapacityPlan.objects.for_tenant(tenant_a).exists()  # nothing stored


def test_non_object_body_is_400(client_a):
    assert client_a.post(URL, [1, 2], format="json").status_code == 400


def test_plan_deploys_in_one_click(client_a, tenant_a, cluster_a):
    from tests.factories.deploy import model_version

    version = model_version(tenant_a, "echo", 1, artifact_uri="s3://m/echo")
    plan = client_a.post(URL, CHAT, format="json").json()
    resp = client_a.post(
        f"{URL}{plan['id']}/deploy/",
        {
            "name": "support-bot",
            "cluster_id": cluster_a.pk,
            "model_repository": "s3://models/acme",
            "model_version_ids": [version.pk],
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    d = resp.json()
    primary = plan["result"]["recommended"]["primary"]
    assert d["replicas"] == primary["replicas"] and d["gpus_per_replica"] == primary["gpus_per_replica"]
    assert d["gpu_type"] == "H100-SXM-80GB" and d["namespace"] == "team-a" and d["plan"] == plan["id"]
    assert d["predicted"]["e2e_ms"] == primary["predicted"]["e2e_ms"]
    assert d["slo"]["percentile"] == 90 and d["status"] == "draft"
    assert d["models"][0]["model"] == "echo"


def test_infeasible_plan_cannot_be_deployed(client_a, tenant_a):
    from tests.factories.deploy import model_version

    version = model_version(tenant_a, "echo", 1)
    plan = client_a.post(URL, {"use_case": "chatbot", "concurrent_users": 8, "ttft_slo_ms": 1}, format="json").json()
    resp = client_a.post(
        f"{URL}{plan['id']}/deploy/", {"name": "x", "target": "local", "model_version_ids": [version.pk]}, format="json"
    )
    assert resp.status_code == 400 and "infeasible" in resp.json()["detail"]
