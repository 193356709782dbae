from __future__ import annotations

import hashlib

from django.core.files.storage import default_storage

from models_registry.models import ModelAlias, ModelVersion
from recommendations.models import TrainingRun
from recommendations.services import catalog_items_upsert, events_ingest
from recommendations.tasks import training_run_task
from tenants.actors import Actor
from tenants.models import AuditEvent
from tests.factories.models_registry import ECHO_IO


def test_training_with_no_events_ends_failed_with_reason(tenant_a, trained):
    catalog_items_upsert(tenant=tenant_a, actor=Actor.system(), rows=[{"external_id": "a", "title": "A"}])
    run = trained(tenant_a)
    assert run.status == TrainingRun.Status.FAILED
    assert run.error.startswith("No events to train on")
    assert run.finished_at is not None and not run.is_active and run.model_version is None
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="recommendations.trainingrun.failed").count() == 1


def test_real_training_run_registers_version_stores_artifact_and_activates(tenant_a, seed, trained):
    seed(tenant_a)
    run = trained(tenant_a, content=True)
    assert run.status == TrainingRun.Status.READY, run.error
    assert (run.stage, run.progress, run.version) == ("done", 1.0, 1)
    assert run.is_active  # the first ready version serves at once
    assert run.stats == {"n_users": 240, "n_items": 24, "n_events": 1440}
    assert len(run.data_hash) == 64 and run.metrics["blend"]["ndcg_at_10"] > 0.3
    assert run.metrics["weights_chosen_by"] == "search"
    assert default_storage.exists(f"{run.artifact_path}/model.npz")
    assert default_storage.exists(f"{run.artifact_path}/meta.json")
    mv = ModelVersion.objects.for_tenant(tenant_a).get()
    assert run.model_version == mv
    assert (mv.model.task, mv.backend, mv.artifact_uri, mv.dataset_hash) == (
        "recommendation",
        "python",
        f"storage:{run.artifact_path}",
        run.data_hash,
    )
    assert mv.source_run == f"recommendations.trainingrun:{run.pk}"
    assert mv.status == ModelVersion.Status.READY and mv.artifact_name == ""
    # The registry digests the stored folder itself (both files, in name order).
    digest = hashlib.sha256()
    for name in ("meta.json", "model.npz"):
        with default_storage.open(f"{run.artifact_path}/{name}", "rb") as fh:
            digest.update(name.encode() + b"\0" + fh.read() + b"\0")
    assert mv.artifact_sha256 == digest.hexdigest()
    assert ModelAlias.objects.for_tenant(tenant_a).get(name="production").version == mv


def test_task_called_twice_is_idempotent(tenant_a, seed, trained):
    seed(tenant_a, n_users=60)
    run = trained(tenant_a)
    assert run.status == TrainingRun.Status.READY
    finished = run.finished_at
    training_run_task(tenant_id=tenant_a.pk, run_id=run.pk)  # redelivery: nothing happens
    run.refresh_from_db()
    assert run.finished_at == finished and run.status == TrainingRun.Status.READY
    assert ModelVersion.objects.for_tenant(tenant_a).count() == 1
    assert AuditEvent.objects.for_tenant(tenant_a).filter(action="recommendations.trainingrun.completed").count() == 1


def test_catalog_with_one_item_trains_a_popularity_model(tenant_a, trained, api, make_token, owner_a):
    actor = Actor.system()
    catalog_items_upsert(tenant=tenant_a, actor=actor, rows=[{"external_id": "solo", "title": "Solo"}])
    events_ingest(
        tenant=tenant_a,
        actor=actor,
        rows=[{"user_id": f"u{n}", "item_id": "solo", "type": "view", "timestamp": 1714564800 + n} for n in range(5)],
    )
    run = trained(tenant_a)
    assert run.status == TrainingRun.Status.READY, run.error
    body = (
        api(make_token(owner_a, ["recommend"]))
        .post("/api/v1/recommendations/", {"user_id": "new-user", "k": 5}, format="json")
        .json()
    )
    assert [i["item_id"] for i in body["items"]] == ["solo"]
    # A user who has seen the only item gets nothing rather than a repeat.
    seen = (
        api(make_token(owner_a, ["recommend"]))
        .post("/api/v1/recommendations/", {"user_id": "u1", "k": 5}, format="json")
        .json()
    )
    assert seen["items"] == []


def test_second_version_waits_for_activation_then_serving_switches(tenant_a, seed, trained, api, make_token, owner_a):
    seed(tenant_a, n_users=80)
    v1 = trained(tenant_a)
    v2 = trained(tenant_a, use_ease=False)
    v2.refresh_from_db()
    v1.refresh_from_db()
    assert v1.is_active and not v2.is_active and v2.status == "ready"
    client = api(make_token(owner_a, ["write", "recommend"]))
    assert (
        client.post("/api/v1/recommendations/", {"user_id": "user001"}, format="json").json()["model_version"][
            "version"
        ]
        == 1
    )
    resp = client.post(f"/api/v1/recommenders/{v2.pk}/activate/")
    assert resp.status_code == 200 and resp.json()["is_active"] is True
    assert (
        client.post("/api/v1/recommendations/", {"user_id": "user001"}, format="json").json()["model_version"][
            "version"
        ]
        == 2
    )
    assert TrainingRun.objects.for_tenant(tenant_a).filter(is_active=True).get() == v2
    audit = (
        AuditEvent.objects.for_tenant(tenant_a).filter(action="recommendations.trainingrun.activated").order_by("seq")
    )
    assert [a.changes["active_version"] for a in audit] == [[None, 1], [1, 2]]


def test_failed_run_cannot_be_activated(tenant_a, trained, api, make_token, owner_a):
    run = trained(tenant_a)  # no catalog, no events
    resp = api(make_token(owner_a, ["write"])).post(f"/api/v1/recommenders/{run.pk}/activate/")
    assert resp.status_code == 409 and "only a ready version" in resp.json()["detail"]


def test_start_training_via_api_enqueues_on_commit(
    api, make_token, owner_a, tenant_a, django_capture_on_commit_callbacks
):
    client = api(make_token(owner_a, ["write"]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = client.post("/api/v1/recommenders/", {"params": {"content": False}}, format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "queued" and resp.json()["version"] == 1
    assert len(callbacks) == 1
    bad = client.post("/api/v1/recommenders/", {"params": {"learning_rate": 3}}, format="json")
    assert bad.status_code == 400 and "Unknown training parameter 'learning_rate'" in bad.json()["detail"]
    progress = client.get(f"/api/v1/recommenders/{resp.json()['id']}/").json()
    assert (progress["status"], progress["stage"], progress["progress"]) == ("queued", "queued", 0.0)


def test_training_takes_its_version_number_from_the_registry_and_audits_there(
    tenant_a, seed, owner_a, api, make_token, django_capture_on_commit_callbacks
):
    # Someone registered version 1 of the tenant's "recommender" model by hand (through the
    # registry API); training must number its own version 2, not collide with it.
    client = api(make_token(owner_a, ["write"]))
    created = client.post("/api/v1/models/", {"name": "recommender", "task": "recommendation"}, format="json")
    assert created.status_code == 201, created.content
    manual = client.post(
        f"/api/v1/models/{created.json()['id']}/versions/",
        {"backend": "python", "artifact_uri": "s3://models/recs/model.py", **ECHO_IO},
        format="json",
    )
    assert manual.status_code == 201 and manual.json()["version"] == 1, manual.content

    seed(tenant_a, n_users=60)
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post("/api/v1/recommenders/", {"params": {"content": False}}, format="json")
    assert started.status_code == 202, started.content
    training_run_task(tenant_id=tenant_a.pk, run_id=started.json()["id"])
    run = TrainingRun.objects.for_tenant(tenant_a).select_related("model_version").get(pk=started.json()["id"])
    assert run.status == TrainingRun.Status.READY, run.error
    mv = run.model_version
    assert (mv.model_id, mv.version) == (created.json()["id"], 2)
    assert mv.created_by_id == owner_a.user_id  # credited to the user who started the run
    alias = ModelAlias.objects.for_tenant(tenant_a).get(model_id=mv.model_id, name="production")
    assert alias.version == mv  # first ready run: activated at once, through alias_set

    events = AuditEvent.objects.for_tenant(tenant_a)
    registered = events.get(action="models_registry.version.registered", target_id=str(mv.pk))
    assert registered.actor_type == "system" and registered.actor_label == "recommendations.train"
    assert registered.changes["version"] == [None, 2]
    assert registered.changes["artifact_uri"] == [None, f"storage:{run.artifact_path}"]
    assert registered.changes["triggered_by_user_id"] == owner_a.user_id
    moved = events.get(action="models_registry.alias.moved")
    assert moved.actor_type == "system" and moved.changes["version"] == [None, 2]
    assert moved.changes["triggered_by_user_id"] == owner_a.user_id


def test_registry_model_is_created_through_the_registry_on_first_training(tenant_a, seed, trained):
    seed(tenant_a, n_users=60)
    run = trained(tenant_a)
    assert run.status == TrainingRun.Status.READY, run.error
    created = AuditEvent.objects.for_tenant(tenant_a).get(action="models_registry.model.created")
    assert created.changes["name"] == [None, "recommender"] and created.changes["task"] == [None, "recommendation"]
