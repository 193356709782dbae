"""End to end against the real tritonserver (one per session, shared with the triton tests):
rollout to the local target, plan vs actual measurement, a failing version rolled back."""

from __future__ import annotations

import pytest

from deploy.models import Rollout
from deploy.services import deployment_create, deployment_update, rollout_start
from deploy.specs import local_model_name
from deploy.tasks import deployment_measure_task, rollout_execute_task
from tenants.actors import Actor
from tests.deploy.app.conftest import ECHO_PY, FAILING_PY
from tests.factories.deploy import model_version

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(180)]
SYSTEM = Actor.system()


@pytest.fixture
def local_triton(settings, request):
    """Point the local target at the session tritonserver and its repository.

    `triton` is the session fixture of tests/support/triton.py (h/triton), registered in
    tests/deploy/conftest.py: one server per session, shared with the Triton tests.
    """
    triton = request.getfixturevalue("triton")
    settings.DEPLOY_LOCAL_TRITON_URL = triton.server.http_url
    settings.TRITON_LOCAL_REPOSITORY = triton.repo_dir
    settings.DEPLOY_MEASURE_DURATION_S = 1.0
    return triton


def test_local_rollout_measure_and_rollback(local_triton, tenant_a, django_capture_on_commit_callbacks):
    v1 = model_version(tenant_a, "echo", 1, artifact_uri=str(ECHO_PY))
    v2 = model_version(tenant_a, "echo", 2, artifact_uri=str(FAILING_PY))
    d = deployment_create(
        tenant=tenant_a,
        actor=SYSTEM,
        name="local-echo",
        target="local",
        model_version_ids=[v1.pk],
        slo={"e2e_ms": 2000, "concurrency": 2, "percentile": 90},
    )
    name = local_model_name("acme", "local-echo", "echo")
    admin = local_triton.http

    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d)
    with django_capture_on_commit_callbacks() as callbacks:
        rollout_execute_task(tenant_id=tenant_a.pk, rollout_id=rollout.pk)
    rollout = Rollout.objects.for_tenant(tenant_a).get(pk=rollout.pk)
    assert rollout.state == "active", rollout.reason
    assert admin.model_ready(name, "1")
    assert (local_triton.repo_dir / name / "1" / "model.py").exists()
    assert len(callbacks) == 1  # the plan-vs-actual job is queued when the rollout commits

    deployment_measure_task(tenant_id=tenant_a.pk, deployment_id=d.pk)
    d.refresh_from_db()
    m = d.measurement
    assert m["concurrency"] == 2 and m["requests"] > 0 and m["errors"] == 0
    assert 0 < m["latency_ms"]["p50"] <= m["latency_ms"]["p99"]
    assert m["measured_e2e_ms"] == m["latency_ms"]["p90"] and m["slo_e2e_ms"] == 2000
    assert m["meets_slo"] is (m["measured_e2e_ms"] <= 2000)

    # Version 2's model fails to initialise: the rollout rolls back to version 1, which serves again.
    deployment_update(tenant=tenant_a, actor=SYSTEM, deployment=d, model_version_ids=[v2.pk])
    second = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d)
    rollout_execute_task(tenant_id=tenant_a.pk, rollout_id=second.pk)
    second.refresh_from_db()
    assert second.state == "rolled_back", second.reason
    assert "could not load echo v2" in second.reason and "rolled back to revision 1" in second.reason
    assert admin.model_ready(name, "1")
    d.refresh_from_db()
    assert d.status == "rolled_back" and d.active_revision.number == 1

    # cleanup: the session server is shared
    admin.unload_model(name, wait_s=5)
