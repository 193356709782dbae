"""Plan vs actual in the console: a deployment created from a real capacity plan is rolled out
to the real local tritonserver and measured; its page shows the plan's p50/p95 and throughput
beside the measured ones, and cost per request as "not metered yet" (no fake number) until
requests to its model are metered."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deploy.capacity.estimate import to_percentile
from deploy.models import Deployment, Rollout
from deploy.plan_vs_actual import plan_vs_actual, predicted_latency
from deploy.selectors import deployment_metered_cost
from deploy.services import capacity_plan_create, deployment_create_from_plan, rollout_start
from deploy.tasks import deployment_measure_task, rollout_execute_task
from tenants.actors import Actor
from tests.deploy.app.conftest import ECHO_PY
from tests.deploy.app.test_rollouts_local import artifact, local_triton  # noqa: F401  (fixture)
from tests.factories.deploy import model_version
from tests.factories.models_registry import approve_file
from usage import meter
from usage.pricing import current_prices

SYSTEM = Actor.system()


def test_predicted_latency_uses_the_planners_tail_factors():
    predicted = {"percentile": 90, "e2e_ms": {"value": 115.0, "provenance": "estimated"}}
    assert predicted_latency(predicted, 90) == (115.0, "plan p90")
    p50, how = predicted_latency(predicted, 50)
    assert p50 == round(to_percentile(115.0, "e2e", 50, statistic="p90"), 2) == 100.0 and "tail factors" in how
    assert predicted_latency(predicted, 95)[0] == 120.0
    assert predicted_latency({}, 50) == (None, "")


@pytest.mark.django_db
def test_unmeasured_deployment_has_no_rows(tenant_a):
    assert plan_vs_actual(Deployment(tenant=tenant_a, name="x", measurement={})) == []


def cell(html: str, metric: str, cls: str) -> str:
    row = re.search(rf'<tr data-metric="{metric}">(.*?)</tr>', html, re.S)
    assert row, f"row {metric} missing"
    found = re.search(rf'<td class="{cls}">(.*?)</td>', row.group(1), re.S)
    assert found
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_console_shows_plan_beside_measured_after_a_local_rollout(local_triton, tenant_a, viewer_a, tmp_path):  # noqa: F811
    v1 = model_version(tenant_a, "echo", 1, artifact_uri=artifact(tmp_path, "echo"))
    approve_file(tenant_a, ECHO_PY)
    plan = capacity_plan_create(tenant=tenant_a, actor=SYSTEM, inputs={"use_case": "embeddings", "concurrent_users": 4})
    d = deployment_create_from_plan(
        tenant=tenant_a, actor=SYSTEM, plan=plan, name="planned-echo", target="local", model_version_ids=[v1.pk]
    )
    assert d.predicted["requests_per_s_total"]["value"] > 0  # the plan's throughput travels with it
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d)
    rollout_execute_task(tenant_id=tenant_a.pk, rollout_id=rollout.pk)
    assert Rollout.objects.for_tenant(tenant_a).get(pk=rollout.pk).state == "active"
    deployment_measure_task(tenant_id=tenant_a.pk, deployment_id=d.pk)
    d.refresh_from_db()
    m = d.measurement
    assert m["requests"] > 0 and m["errors"] == 0

    client = Client()
    client.force_login(viewer_a.user)
    html = client.get(f"/t/acme/deployments/{d.pk}/").content.decode()
    rows = {r.metric: r for r in plan_vs_actual(d)}
    for pct in (50, 95):
        expected_pred, _ = predicted_latency(d.predicted, pct)
        assert cell(html, f"p{pct} latency", "predicted") == f"{expected_pred:.2f} ms"
        assert cell(html, f"p{pct} latency", "measured") == f"{m['latency_ms'][f'p{pct}']:.2f} ms"
        assert rows[f"p{pct} latency"].ratio == round(m["latency_ms"][f"p{pct}"] / expected_pred, 2)
    per_replica = d.predicted["requests_per_s_total"]["value"] / d.replicas
    assert cell(html, "Throughput", "predicted") == f"{round(per_replica, 2):.2f} req/s"
    assert cell(html, "Throughput", "measured") == f"{m['throughput_rps']:.2f} req/s"
    assert cell(html, "Cost per request", "predicted").startswith("$")
    assert cell(html, "Cost per request", "measured") == "not metered yet"

    # Once requests to the deployment's model are metered, the page shows their cost per request.
    model = d.active_revision.manifests[0]["model"]
    meter.record(tenant_a.pk, "qa", None, model, requests=4, inference_ms=2000)
    per_request = plan_vs_actual(d, metered=deployment_metered_cost(tenant=tenant_a, deployment=d))[-1]
    prices = current_prices()
    expected = (4 * prices.unit("qa", "requests") + 2000 * prices.unit("qa", "inference_ms")) / 4
    assert expected > 0 and per_request.measured == pytest.approx(expected, rel=1e-3)
    html = client.get(f"/t/acme/deployments/{d.pk}/").content.decode()
    assert cell(html, "Cost per request", "measured") == f"${per_request.measured:.6f}"
    local_triton.http.unload_model(d.active_revision.manifests[0]["triton_name"], wait_s=5)
