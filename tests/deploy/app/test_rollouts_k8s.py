"""The rollout state machine against Kubernetes, through the API double (tests/support/k8s_double).

Tasks are called directly (twice where idempotency matters); enqueueing is checked with
django_capture_on_commit_callbacks, never with eager mode.
"""

from __future__ import annotations

import datetime as dt

import kubernetes_validate
import pytest
import yaml
from django.db import IntegrityError, transaction
from django.utils import timezone

from deploy.k8s.manifests import REVISION_LABEL
from deploy.models import Deployment, Revision, Rollout
from deploy.services import cluster_create, deployment_create, deployment_update, rollout_start, rollout_sweep_stale
from deploy.tasks import rollout_execute_task, sweep_stale_rollouts_task
from tenants.actors import Actor
from tenants.models import AuditEvent
from tests.deploy.app.conftest import NAMESPACE
from tests.factories.deploy import model_version
from tests.support.k8s_double import RolloutPlan

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
SYSTEM = Actor.system()


@pytest.fixture
def client_a(api, admin_a, make_token):
    return api(make_token(admin_a, ["write", "deploy"]))


@pytest.fixture
def deployment(tenant_a, cluster_a) -> Deployment:
    version = model_version(tenant_a, "echo", 1)
    return deployment_create(
        tenant=tenant_a,
        actor=SYSTEM,
        name="qa-triton",
        cluster_id=cluster_a.pk,
        model_repository="s3://models/acme",
        model_version_ids=[version.pk],
        memory_limit="16Gi",
    )


def run(rollout_id: int, tenant) -> Rollout:
    rollout_execute_task(tenant_id=tenant.pk, rollout_id=rollout_id)
    return Rollout.objects.for_tenant(tenant).get(pk=rollout_id)


def start_and_run(client, deployment, tenant, django_capture_on_commit_callbacks) -> Rollout:
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(f"/api/v1/deployments/{deployment.pk}/rollout/", {}, format="json")
    assert resp.status_code == 202, resp.content
    assert len(callbacks) == 1  # the task is enqueued on commit, not before
    return run(resp.json()["id"], tenant)


def live_deployment(k8s):
    return k8s.get("Deployment", NAMESPACE, "qa-triton")


def live_revision(k8s) -> str | None:
    obj = live_deployment(k8s)
    return obj["spec"]["template"]["metadata"]["labels"][REVISION_LABEL] if obj else None


def test_rollout_succeeds_and_is_idempotent(client_a, deployment, tenant_a, k8s, django_capture_on_commit_callbacks):
    rollout = start_and_run(client_a, deployment, tenant_a, django_capture_on_commit_callbacks)
    assert rollout.state == "active" and rollout.reason == ""
    from usage.models import UsageHour

    (metered,) = UsageHour.objects.for_tenant(tenant_a).filter(feature="rollouts")
    assert metered.value == 1 and metered.model == deployment.name and metered.token_id > 0
    states = [e.state for e in rollout.events.all()]
    assert states[0] == "pending" and states[-1] == "active"
    assert {"applying", "waiting", "verifying"} <= set(states)
    deployment.refresh_from_db()
    assert deployment.status == "active" and deployment.active_revision.number == 1
    assert live_revision(k8s) == "1"
    kinds = {o["kind"] for o in k8s.objects(NAMESPACE)}
    assert {"ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds or {
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    } <= kinds
    # server-side apply with the portal's field manager
    managers = {m["manager"] for m in live_deployment(k8s)["metadata"]["managedFields"]}
    assert "llmops-portal" in managers
    # a second delivery of the same task changes nothing
    events = rollout.events.count()
    again = run(rollout.pk, tenant_a)
    assert again.state == "active" and again.events.count() == events and again.attempts == 1
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="deploy.rollout.active").count() == 1
    # the API shows the events for live polling
    body = client_a.get(f"/api/v1/rollouts/{rollout.pk}/").json()
    assert body["state"] == "active" and body["events"][-1]["state"] == "active"


def _second_revision(tenant_a, deployment, client_a, cb, k8s, plan: RolloutPlan) -> Rollout:
    assert start_and_run(client_a, deployment, tenant_a, cb).state == "active"
    deployment_update(tenant=tenant_a, actor=SYSTEM, deployment=deployment, memory_limit="24Gi")
    k8s.plans_by_revision["2"] = plan
    return start_and_run(client_a, deployment, tenant_a, cb)


def test_never_ready_rolls_back_automatically(client_a, deployment, tenant_a, k8s, django_capture_on_commit_callbacks):
    rollout = _second_revision(
        tenant_a,
        deployment,
        client_a,
        django_capture_on_commit_callbacks,
        k8s,
        RolloutPlan("stuck", deadline_after_polls=2),
    )
    assert rollout.state == "rolled_back", rollout.reason
    assert "ProgressDeadlineExceeded" in rollout.reason and "rolled back to revision 1" in rollout.reason
    assert [e.state for e in rollout.events.all()][-2:] == ["rolling_back", "rolled_back"]
    deployment.refresh_from_db()
    assert deployment.status == "rolled_back" and deployment.active_revision.number == 1
    assert "ProgressDeadlineExceeded" in deployment.status_reason
    # the previous revision's spec is live again, not just its label
    live = live_deployment(k8s)
    assert live_revision(k8s) == "1"
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "16Gi"
    assert Revision.objects.for_tenant(tenant_a).filter(deployment=deployment).count() == 2


def test_rollout_deadline_rolls_back_with_reason(
    client_a, deployment, tenant_a, k8s, django_capture_on_commit_callbacks, monkeypatch
):
    assert start_and_run(client_a, deployment, tenant_a, django_capture_on_commit_callbacks).state == "active"
    deployment_update(tenant=tenant_a, actor=SYSTEM, deployment=deployment, memory_limit="24Gi")
    k8s.plans_by_revision["2"] = RolloutPlan("stuck")  # never ready, never reports a deadline
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment)
    Rollout.objects.for_tenant(tenant_a).filter(pk=rollout.pk).update(
        deadline_at=timezone.now() + dt.timedelta(seconds=1.5)
    )
    rollout = run(rollout.pk, tenant_a)
    assert rollout.state == "rolled_back" and "not complete after" in rollout.reason
    assert live_revision(k8s) == "1"


def test_first_rollout_never_ready_leaves_nothing_applied(deployment, tenant_a, k8s):
    k8s.plans_by_revision["1"] = RolloutPlan("stuck", deadline_after_polls=1)
    rollout = run(rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment).pk, tenant_a)
    assert rollout.state == "failed" and "ProgressDeadlineExceeded" in rollout.reason
    assert "nothing was left applied" in rollout.reason
    assert k8s.objects(NAMESPACE) == []
    deployment.refresh_from_db()
    assert deployment.status == "failed" and deployment.active_revision is None


def test_bad_credentials_fail_with_a_clear_reason(tenant_a, k8s):
    bad = cluster_create(
        tenant=tenant_a, actor=SYSTEM, name="bad", api_server=k8s.url, token="wrong-token", default_namespace=NAMESPACE
    )
    version = model_version(tenant_a, "echo", 1)
    d = deployment_create(
        tenant=tenant_a,
        actor=SYSTEM,
        name="qa-triton",
        cluster_id=bad.pk,
        model_repository="s3://m/x",
        model_version_ids=[version.pk],
    )
    rollout = run(rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=d).pk, tenant_a)
    assert rollout.state == "failed"
    assert "401 Unauthorized" in rollout.reason and "cannot reach the target" in rollout.reason
    assert k8s.objects(NAMESPACE) == []
    d.refresh_from_db()
    assert d.status == "failed" and "401" in d.status_reason


def test_cluster_check_reports_bad_credentials(client_a, tenant_a, k8s, cluster_a):
    bad = cluster_create(tenant=tenant_a, actor=SYSTEM, name="bad", api_server=k8s.url, token="nope")
    body = client_a.post(f"/api/v1/clusters/{bad.pk}/check/", {}, format="json").json()
    assert body["last_check_ok"] is False and "401" in body["last_check_error"]
    good = client_a.post(f"/api/v1/clusters/{cluster_a.pk}/check/", {}, format="json").json()
    assert good["last_check_ok"] is True and good["server_version"].startswith("v1.")


def test_manual_rollback_to_revision_n(client_a, deployment, tenant_a, k8s, django_capture_on_commit_callbacks):
    assert (
        _second_revision(
            tenant_a, deployment, client_a, django_capture_on_commit_callbacks, k8s, RolloutPlan("ready")
        ).state
        == "active"
    )
    assert live_revision(k8s) == "2"
    url = f"/api/v1/deployments/{deployment.pk}/rollback/"
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client_a.post(url, {"revision": 1}, format="json")
    assert resp.status_code == 202, resp.content and len(callbacks) == 1
    rollout = run(resp.json()["id"], tenant_a)
    assert rollout.kind == "rollback" and rollout.state == "active"
    assert live_revision(k8s) == "1"
    assert live_deployment(k8s)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "16Gi"
    deployment.refresh_from_db()
    assert deployment.active_revision.number == 1 and deployment.status == "active"
    # already live -> 400; unknown revision -> 404
    assert client_a.post(url, {"revision": 1}, format="json").status_code == 400
    assert client_a.post(url, {"revision": 9}, format="json").status_code == 404
    revisions = client_a.get(f"/api/v1/deployments/{deployment.pk}/revisions/").json()["results"]
    assert [r["number"] for r in revisions] == [2, 1] and revisions[1]["manifests"][0]["kind"] == "ConfigMap"


def test_concurrent_rollout_is_409_and_refused_by_the_database(client_a, deployment, tenant_a, k8s):
    first = client_a.post(f"/api/v1/deployments/{deployment.pk}/rollout/", {}, format="json")
    assert first.status_code == 202
    second = client_a.post(f"/api/v1/deployments/{deployment.pk}/rollout/", {}, format="json")
    assert second.status_code == 409 and second.json()["code"] == "conflict"
    assert Revision.objects.for_tenant(tenant_a).filter(deployment=deployment).count() == 1  # nothing half-made
    # The guard is the partial unique index, not only the Python pre-check.
    rev = Revision.objects.for_tenant(tenant_a).get(deployment=deployment)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rollout.objects.create(
            tenant=tenant_a, deployment=deployment, revision=rev, state="waiting", deadline_at=timezone.now()
        )
    assert (
        client_a.post(f"/api/v1/deployments/{deployment.pk}/rollback/", {"revision": 1}, format="json").status_code
        == 409
    )


def _crash(tenant, rollout: Rollout, state: str, *, lease_s: float, deadline_s: float) -> None:
    """What a worker that died in `state` leaves behind."""
    now = timezone.now()
    Rollout.objects.for_tenant(tenant).filter(pk=rollout.pk).update(
        state=state,
        claim_token="dead-worker",
        claimed_at=now,
        attempts=1,
        lease_expires_at=now + dt.timedelta(seconds=lease_s),
        deadline_at=now + dt.timedelta(seconds=deadline_s),
    )


def test_redelivered_task_resumes_a_crashed_rollout(deployment, tenant_a, k8s):
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment)
    _crash(tenant_a, rollout, "waiting", lease_s=300, deadline_s=600)
    assert run(rollout.pk, tenant_a).state == "waiting"  # lease still held: a live worker may own it
    _crash(tenant_a, rollout, "waiting", lease_s=-1, deadline_s=600)
    resumed = run(rollout.pk, tenant_a)
    assert resumed.state == "active" and resumed.attempts == 2
    assert any("previous worker lost in state waiting" in e.message for e in resumed.events.all())
    assert live_revision(k8s) == "1"


def test_sweep_resends_a_rollout_whose_worker_lease_expired(
    deployment, tenant_a, k8s, django_capture_on_commit_callbacks
):
    """A worker died mid-rollout and its message is not back (visibility timeout 1 h): within
    the deadline, the sweep sends the task again once the lease expired, never while it is held."""
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment)
    _crash(tenant_a, rollout, "waiting", lease_s=300, deadline_s=600)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert rollout_sweep_stale() == []
    assert callbacks == []  # a live worker may hold it
    _crash(tenant_a, rollout, "waiting", lease_s=-1, deadline_s=600)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert rollout_sweep_stale() == []  # not ended: resumed
    assert len(callbacks) == 1
    rollout.refresh_from_db()
    assert rollout.state == "waiting"  # the sweep itself changed nothing
    assert run(rollout.pk, tenant_a).state == "active"  # the re-sent task resumes it


def test_sweep_rolls_back_a_rollout_past_its_deadline(
    client_a, deployment, tenant_a, k8s, django_capture_on_commit_callbacks
):
    assert start_and_run(client_a, deployment, tenant_a, django_capture_on_commit_callbacks).state == "active"
    deployment_update(tenant=tenant_a, actor=SYSTEM, deployment=deployment, memory_limit="24Gi")
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment)
    # the worker applied revision 2, then died while waiting
    from deploy.services.clusters import kube_target_for

    with kube_target_for(deployment.cluster) as kube:
        kube.apply(rollout.revision.manifests, field_manager="llmops-portal")
    assert live_revision(k8s) == "2"
    _crash(tenant_a, rollout, "waiting", lease_s=-1, deadline_s=-1)
    sweep_stale_rollouts_task()
    rollout.refresh_from_db()
    assert rollout.state == "rolled_back" and "passed its deadline" in rollout.reason
    assert live_revision(k8s) == "1"
    assert rollout_sweep_stale() == []  # nothing left in progress; a second sweep is a no-op
    assert run(rollout.pk, tenant_a).state == "rolled_back"  # a late redelivery changes nothing


def test_sweep_fails_a_first_rollout_that_never_started(deployment, tenant_a, k8s):
    rollout = rollout_start(tenant=tenant_a, actor=SYSTEM, deployment=deployment)
    Rollout.objects.for_tenant(tenant_a).filter(pk=rollout.pk).update(deadline_at=timezone.now() - dt.timedelta(1))
    assert rollout_sweep_stale() == [rollout.pk]
    rollout.refresh_from_db()
    assert rollout.state == "failed" and "never started" in rollout.reason
    assert k8s.objects(NAMESPACE) == []


def test_sweep_is_in_the_beat_schedule(settings):
    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "deploy.sweep_stale_rollouts" in entries


def test_manifests_download_as_yaml_validates(client_a, deployment):
    resp = client_a.get(f"/api/v1/deployments/{deployment.pk}/manifests/?format=yaml")
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("application/yaml")
    assert "attachment" in resp["Content-Disposition"]
    docs = [d for d in yaml.safe_load_all(resp.content) if d]
    builtin = [d for d in docs if d["kind"] != "ServiceMonitor"]
    assert {d["kind"] for d in builtin} >= {"ConfigMap", "Service", "Deployment", "PodDisruptionBudget"}
    for doc in builtin:
        kubernetes_validate.validate(doc, "1.31", strict=True)  # raises on any schema error
        assert doc["metadata"]["namespace"] == NAMESPACE
    as_json = client_a.get(f"/api/v1/deployments/{deployment.pk}/manifests/").json()
    assert as_json["manifests"] == docs
    # dry run: nothing was sent to the cluster, no revision was made
    assert Revision.objects.for_tenant(deployment.tenant).filter(deployment=deployment).count() == 0
