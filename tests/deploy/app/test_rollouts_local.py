"""End to end against the real tritonserver (one per session, shared with the triton tests):
rollout to the local target, plan vs actual measurement, a failing version rolled back, and the
registry's version-to-entry code (serving knobs, the missing-model.py guard) on the deploy path."""

from __future__ import annotations

import hashlib
import shutil
import time

import pytest

from deploy.models import Rollout
from deploy.services import deployment_create, deployment_update, rollout_start
from deploy.specs import local_model_name
from deploy.targets import LocalTritonTarget, RevisionData
from deploy.tasks import deployment_measure_task, rollout_execute_task
from inference.triton.client import TritonAdmin
from models_registry.models import ArtifactApproval
from models_registry.trust import LocalArtifactPolicy
from portal.exceptions import ApplicationError
from tenants.actors import Actor
from tests.deploy.app.conftest import ECHO_PY, FAILING_PY
from tests.factories.deploy import model_version
from tests.factories.models_registry import approve_file, platform_operator

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(180)]
SYSTEM = Actor.system()


@pytest.fixture
def local_triton(settings, request, tmp_path):
    """Point the local target at the session tritonserver and its repository, and open one
    artifact location per tenant (file://<tmp>/{tenant}/) holding copies of the test models.

    `triton` is the session fixture of tests/support/triton.py (h/triton), registered in
    tests/deploy/conftest.py: one server per session, shared with the Triton tests.
    """
    triton = request.getfixturevalue("triton")
    settings.DEPLOY_LOCAL_TRITON_URL = triton.server.http_url
    settings.TRITON_LOCAL_REPOSITORY = triton.repo_dir
    settings.DEPLOY_MEASURE_DURATION_S = 1.0
    settings.MODEL_ARTIFACT_URI_PREFIXES = [f"file://{tmp_path}/artifacts/{{tenant}}/"]
    for name, source in (("echo", ECHO_PY), ("failing", FAILING_PY)):
        (tmp_path / "artifacts" / "acme" / name).mkdir(parents=True)
        shutil.copyfile(source, tmp_path / "artifacts" / "acme" / name / "model.py")
    return triton


def artifact(tmp_path, name: str) -> str:
    return f"file://{tmp_path}/artifacts/acme/{name}/model.py"


def test_local_rollout_measure_and_rollback(local_triton, tenant_a, django_capture_on_commit_callbacks, tmp_path):
    v1 = model_version(tenant_a, "echo", 1, artifact_uri=artifact(tmp_path, "echo"))
    v2 = model_version(tenant_a, "echo", 2, artifact_uri=artifact(tmp_path, "failing"))
    approve_file(tenant_a, ECHO_PY)
    approve_file(tenant_a, FAILING_PY)
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


def _rollout(tenant, name: str, version) -> Rollout:  # type: ignore[no-untyped-def]
    d = deployment_create(tenant=tenant, actor=SYSTEM, name=name, target="local", model_version_ids=[version.pk])
    rollout = rollout_start(tenant=tenant, actor=SYSTEM, deployment=d)
    rollout_execute_task(tenant_id=tenant.pk, rollout_id=rollout.pk)
    return Rollout.objects.for_tenant(tenant).get(pk=rollout.pk)


def test_python_version_without_model_py_is_refused_before_triton_is_asked(local_triton, tenant_a, tmp_path):
    """tritonserver 2.51 never answers a load of a python model with no model.py (the client
    blocks until its 120 s timeout): the deploy path must refuse it as the registry does."""
    weights = tmp_path / "artifacts" / "acme" / "weights-only"
    weights.mkdir()
    (weights / "weights.bin").write_bytes(b"\0" * 16)
    version = model_version(tenant_a, "no-model-py", 1, artifact_uri=f"file://{weights}")
    # Approved by the digest of the directory (what the staging copy computes).
    from inference.triton.local import artifact_digest
    from models_registry.services import approval_decide
    from models_registry.trust import approval_request

    approval = approval_request(tenant=tenant_a, backend="python", sha256=artifact_digest(weights)[1])
    approval_decide(operator=platform_operator(), approval=approval, approve=True)

    started = time.monotonic()
    rollout = _rollout(tenant_a, "no-model-py", version)
    elapsed = time.monotonic() - started

    assert rollout.state == "failed", rollout.reason
    assert "needs a model.py" in rollout.reason
    assert "weights.bin" not in rollout.reason  # a directory's content is never listed to the tenant
    assert elapsed < 30, f"the rollout took {elapsed:.1f}s: Triton was asked to load it"
    name = local_model_name("acme", "no-model-py", "no-model-py")
    assert not (local_triton.repo_dir / name).exists()  # nothing written, so nothing Triton could see
    assert name not in {row.name for row in local_triton.http.repository_index()}


def test_version_serving_options_reach_the_deployed_config(local_triton, tenant_a, tmp_path):
    """The registry's spec (with the version's serving knobs) is what the local target writes."""
    approve_file(tenant_a, ECHO_PY)
    version = model_version(
        tenant_a,
        "echo-batched",
        3,
        artifact_uri=artifact(tmp_path, "echo"),
        serving={"dynamic_batching": True, "max_queue_delay_us": 250, "instance_count": 2},
    )
    rollout = _rollout(tenant_a, "batched", version)
    assert rollout.state == "active", rollout.reason

    name = local_model_name("acme", "batched", "echo-batched")
    config = local_triton.http.model_config(name, "3")
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 250
    assert [(g["kind"], int(g["count"])) for g in config["instance_group"]] == [("KIND_CPU", 2)]
    assert config["version_policy"] == {"specific": {"versions": [3]}}
    local_triton.http.unload_model(name, wait_s=5)


def test_revision_entries_recorded_before_the_registry_functions_still_apply(local_triton, settings):
    """Old revisions stored `source`/`file_name` instead of the artifact fields; rolling back to
    one must still work (under today's rules: here a platform model from a platform location)."""
    settings.MODEL_ARTIFACT_URI_PREFIXES = [f"file://{ECHO_PY.parent}/"]
    legacy = {
        "triton_name": "acme--legacy--echo",
        "model": "echo",
        "version": 1,
        "source": str(ECHO_PY),
        "file_name": "model.py",
        "backend": "python",
        "max_batch_size": 8,
        "inputs": [{"name": "text", "data_type": "BYTES", "dims": [1]}],
        "outputs": [{"name": "embedding", "data_type": "FP32", "dims": [4]}],
        "parameters": {},
    }
    target = LocalTritonTarget(
        TritonAdmin(local_triton.server.http_url), local_triton.repo_dir, LocalArtifactPolicy(tenant=None)
    )
    try:
        assert target.apply(RevisionData(1, {}, [legacy])) == "loaded acme--legacy--echo v1"
        assert local_triton.http.model_ready("acme--legacy--echo", "1")
        assert target.rollback(None, RevisionData(1, {}, [legacy]), 10.0) == "removed acme--legacy--echo"
        assert not (local_triton.repo_dir / "acme--legacy--echo").exists()
    finally:
        target.close()


def test_local_names_never_collide_whatever_the_names_contain():
    """Issue #12: `<slug>--<deployment>--<model>` collided when a slug or name contained `--`."""
    assert local_model_name("a--b", "c", "d") != local_model_name("a", "b--c", "d")
    assert local_model_name("a", "b", "c-d") != local_model_name("a", "b-c", "d")
    # never the registry's two-part name of the same tenant, nor a shared one-part name
    assert local_model_name("acme", "dep", "m").count(".") == 2
    long = local_model_name("t" * 63, "d" * 40, "m" * 100)
    assert len(long) <= 128 and long != local_model_name("t" * 63, "d" * 40, "m" * 99 + "x")


def test_a_rollout_of_unapproved_tenant_code_fails_with_the_reason(local_triton, tenant_a, tmp_path):
    """Issue #12 through the deploy path: the local target enforces the registry's trust rule."""
    (tmp_path / "artifacts" / "acme" / "probe").mkdir()
    probe = tmp_path / "artifacts" / "acme" / "probe" / "model.py"
    shutil.copyfile(ECHO_PY.parent.parent / "env_probe" / "model.py", probe)
    version = model_version(tenant_a, "probe", 1, artifact_uri=f"file://{probe}")
    sha = hashlib.sha256(probe.read_bytes()).hexdigest()

    rollout = _rollout(tenant_a, "probe", version)

    assert rollout.state == "failed", rollout.reason
    assert f"This python-backend artifact awaits platform approval (sha256 {sha})." in rollout.reason
    assert "ENV[" not in rollout.reason
    name = local_model_name("acme", "probe", "probe")
    assert not (local_triton.repo_dir / name).exists()
    assert name not in {row.name for row in local_triton.http.repository_index()}
    assert ArtifactApproval.objects.for_tenant(tenant_a).get(sha256=sha).status == "pending"
    # Another tenant's approval of the same bytes does not count for this one.
    from tests.factories.tenants import TenantFactory

    approve_file(TenantFactory(slug="globex"), probe)
    assert _rollout(tenant_a, "probe-again", version).state == "failed"


def test_local_rollouts_respect_the_shared_servers_knob_limits(local_triton, tenant_a, tmp_path):
    version = model_version(
        tenant_a, "wide", 1, artifact_uri=artifact(tmp_path, "echo"), serving={"instance_count": 16}
    )
    d = deployment_create(tenant=tenant_a, actor=SYSTEM, name="wide", target="local", model_version_ids=[version.pk])
    with pytest.raises(ApplicationError, match="wide v1: instance_count 16 is above the shared server's limit of 2"):
        rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d)
    assert not Rollout.objects.for_tenant(tenant_a).exists()
