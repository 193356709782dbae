"""Registry behaviour through the API: registration (upload, hashing, numbering), bad specs,
aliases and their RBAC, metrics comparison, the rendered Triton config, audit, built-ins, /readyz."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from inference.triton.builtin import E5_FILES, MINILM_MODEL_PY
from inference.triton.repository import parse_config
from models_registry.models import ModelAlias, ModelVersion, RegisteredModel
from tenants.models import AuditEvent
from tests.factories.models_registry import ECHO_IO, SYSTEM, model_version, registered_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_a(tenant_a):
    return registered_model(tenant_a, "embedder")


def versions_url(model) -> str:
    return reverse("api:modelversion-list", kwargs={"model_pk": model.pk})


def alias_url(model, name: str) -> str:
    return reverse("api:modelalias-detail", kwargs={"model_pk": model.pk, "name": name})


def multipart_payload(content: bytes, **extra):
    return {
        "backend": "python",
        "artifact": SimpleUploadedFile("my_model.py", content, content_type="text/x-python"),
        "inputs": json.dumps(ECHO_IO["inputs"]),
        "outputs": json.dumps(ECHO_IO["outputs"]),
        "max_batch_size": "8",
        "metrics": json.dumps({"ndcg@10": 0.41, "latency_ms": 12.5}),
        "serving": json.dumps(
            {
                "dynamic_batching": True,
                "preferred_batch_sizes": [4, 8],
                "max_queue_delay_us": 500,
                "instance_kind": "KIND_CPU",
                "instance_count": 2,
            }
        ),
        "parameters": json.dumps({"threads": "1"}),
        "source_run": "mlflow:run/42",
        "dataset_hash": "ab" * 32,
        **extra,
    }


def test_create_model_and_register_uploaded_version(editor_a, api, model_a):
    client = api(user=editor_a.user, tenant="acme")
    resp = client.post(reverse("api:model-list"), {"name": "ranker", "task": "rerank"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["shared"] is False and resp.json()["owner"] == "acme"

    content = MINILM_MODEL_PY.read_bytes()
    resp = client.post(versions_url(model_a), multipart_payload(content), format="multipart")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["version"] == 1 and body["task"] == "embedding"  # task defaults to the model's
    assert body["artifact_sha256"] == hashlib.sha256(content).hexdigest()
    assert body["artifact_size"] == len(content)
    assert body["artifact_name"] == "model.py"  # the python backend's file name, not the upload's
    assert body["source_run"] == "mlflow:run/42" and body["dataset_hash"] == "ab" * 32
    assert body["created_by"] == "editor@acme.test"
    stored = ModelVersion.objects.for_tenant(editor_a.tenant).get(pk=body["id"])
    assert stored.artifact and stored.artifact.read() == content

    second = client.post(versions_url(model_a), multipart_payload(b"print('v2')\n"), format="multipart")
    assert second.status_code == 201 and second.json()["version"] == 2
    listed = client.get(versions_url(model_a)).json()["results"]
    assert [v["version"] for v in listed] == [2, 1]

    event = AuditEvent.objects.for_tenant(editor_a.tenant).filter(action="models_registry.version.registered").first()
    assert event is not None and event.changes["artifact_sha256"][1] in {
        hashlib.sha256(content).hexdigest(),
        hashlib.sha256(b"print('v2')\n").hexdigest(),
    }


def test_client_cannot_supply_the_hash(editor_a, api, model_a):
    resp = api(user=editor_a.user, tenant="acme").post(
        versions_url(model_a), multipart_payload(b"x = 1\n", artifact_sha256="0" * 64), format="multipart"
    )
    assert resp.status_code == 201
    assert resp.json()["artifact_sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inputs": [{"name": "text", "data_type": "NOPE", "dims": [1]}]}, "unknown data type"),
        ({"inputs": [{"name": "text", "data_type": "BYTES", "dims": [0]}]}, "dim 0 is invalid"),
        ({"inputs": [{"name": "text", "data_type": "BYTES"}]}, "missing dims"),
        ({"inputs": []}, "at least one input"),
        ({"outputs": [{"name": "text", "data_type": "FP32", "dims": [4]}]}, "both an input and an output"),
        ({"max_batch_size": 0, "serving": {"dynamic_batching": True}}, "dynamic batching needs max_batch_size"),
        ({"serving": {"dynamic_batching": True, "preferred_batch_sizes": [64]}}, "outside 1..max_batch_size"),
        ({"serving": {"instance_kind": "KIND_TPU"}}, "instance_kind"),
        ({"serving": {"warp_drive": True}}, "unknown serving option"),
    ],
)
def test_bad_tensor_spec_is_a_clear_400(editor_a, api, model_a, change, message):
    payload = {"backend": "python", "artifact_uri": "s3://models/b/model.py", "max_batch_size": 8, **ECHO_IO, **change}
    resp = api(user=editor_a.user, tenant="acme").post(versions_url(model_a), payload, format="json")
    assert resp.status_code == 400, resp.content
    assert message in resp.json()["detail"], resp.json()
    assert not ModelVersion.objects.for_tenant(editor_a.tenant).exists()


def test_duplicate_version_numbers_are_impossible(model_a):
    model_version(model_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            tenant=model_a.tenant, model=model_a, version=1, task="embedding", backend="python", inputs=[], outputs=[]
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_registration_gets_distinct_numbers(tenant_a):
    model = registered_model(tenant_a, "racy")
    n = 6
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def register() -> None:
        try:
            barrier.wait(timeout=10)
            model_version(model)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    numbers = sorted(ModelVersion.objects.for_tenant(tenant_a).filter(model=model).values_list("version", flat=True))
    assert numbers == list(range(1, n + 1))


def test_alias_rbac_and_validation(owner_a, admin_a, editor_a, api, model_a):
    v1 = model_version(model_a)
    v2 = model_version(model_a, metrics={"accuracy": 0.9})
    editor = api(user=editor_a.user, tenant="acme")
    admin = api(user=admin_a.user, tenant="acme")

    denied = editor.put(alias_url(model_a, "production"), {"version": 1}, format="json")
    assert denied.status_code == 403, denied.content
    assert "models.promote" in denied.json()["detail"]
    assert not ModelAlias.objects.for_tenant(editor_a.tenant).filter(name="production").exists()

    staging = editor.put(alias_url(model_a, "staging"), {"version": 2}, format="json")
    assert staging.status_code == 200 and staging.json()["version"] == 2

    prod = admin.put(alias_url(model_a, "production"), {"version_id": v1.pk}, format="json")
    assert prod.status_code == 200 and prod.json()["version"] == 1
    moved = admin.put(alias_url(model_a, "production"), {"version": 2}, format="json")
    assert moved.status_code == 200 and moved.json()["version"] == 2
    assert ModelAlias.objects.for_tenant(admin_a.tenant).get(model=model_a, name="production").version_id == v2.pk

    other = model_version(registered_model(model_a.tenant, "other"))
    cross = admin.put(alias_url(model_a, "champion"), {"version_id": other.pk}, format="json")
    assert cross.status_code == 400 and "another model" in cross.json()["detail"]
    nonexistent = admin.put(alias_url(model_a, "champion"), {"version": 9}, format="json")
    assert nonexistent.status_code == 404

    events = AuditEvent.objects.for_tenant(admin_a.tenant).filter(action="models_registry.alias.moved")
    assert [e.changes["version"] for e in events.order_by("seq")] == [[None, 2], [None, 1], [1, 2]]
    denials = AuditEvent.objects.for_tenant(admin_a.tenant).filter(action="tenants.permission.denied")
    assert any("models.promote" in e.changes.get("reason", "") for e in denials)

    readonly_detail = api(user=editor_a.user, tenant="acme").get(reverse("api:model-detail", kwargs={"pk": model_a.pk}))
    assert {a["name"]: a["version"] for a in readonly_detail.json()["aliases"]} == {"production": 2, "staging": 2}


def test_compare_versions(viewer_a, api, model_a):
    model_version(model_a, metrics={"accuracy": 0.80, "latency_ms": 20.0, "note": "baseline"})
    model_version(model_a, metrics={"accuracy": 0.85, "latency_ms": 25.0})
    model_version(model_a, metrics={"accuracy": 0.83, "latency_ms": 15.0})
    client = api(user=viewer_a.user, tenant="acme")
    resp = client.get(reverse("api:model-compare", kwargs={"pk": model_a.pk}), {"versions": "1,2,3"})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["versions"] == [1, 2, 3]
    rows = {r["name"]: r for r in body["metrics"]}
    assert rows["accuracy"]["best"] == 2 and rows["accuracy"]["delta"]["2"] == pytest.approx(0.05)
    assert rows["latency_ms"]["best"] == 3 and rows["latency_ms"]["lower_is_better"] is True
    assert rows["note"]["values"] == {"1": "baseline", "2": None, "3": None} and rows["note"]["best"] is None
    assert client.get(reverse("api:model-compare", kwargs={"pk": model_a.pk}), {"versions": "1,7"}).status_code == 404
    assert client.get(reverse("api:model-compare", kwargs={"pk": model_a.pk}), {"versions": "x"}).status_code == 400


def test_triton_config_endpoint_renders_pbtxt(editor_a, api, model_a):
    client = api(user=editor_a.user, tenant="acme")
    created = client.post(versions_url(model_a), multipart_payload(b"pass\n"), format="multipart").json()
    url = reverse("api:modelversion-triton-config", kwargs={"model_pk": model_a.pk, "version": created["version"]})
    resp = api(user=editor_a.user, tenant="acme").get(url)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/plain")
    cfg = parse_config(resp.content.decode())
    assert cfg.name == "acme.embedder" and cfg.backend == "python" and cfg.max_batch_size == 8
    assert [(i.name, i.dims) for i in cfg.input] == [("text", [1])]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 500
    assert cfg.instance_group[0].count == 2 and cfg.instance_group[0].kind == cfg.instance_group[0].KIND_CPU
    assert list(cfg.version_policy.specific.versions) == [1]
    assert cfg.parameters["threads"].string_value == "1"


def test_ensure_builtin_models_is_idempotent(db, owner_a, make_token, api):
    call_command("ensure_builtin_models")
    call_command("ensure_builtin_models")
    shared = RegisteredModel.objects.all_tenants().filter(tenant__isnull=True)
    assert sorted(shared.values_list("name", flat=True)) == ["e5s", "minilm"]
    version = ModelVersion.objects.all_tenants().get(model__name="minilm", tenant__isnull=True)
    assert version.version == 1 and version.artifact_uri == "builtin:minilm"
    assert version.artifact_sha256 == hashlib.sha256(MINILM_MODEL_PY.read_bytes()).hexdigest()
    assert ModelAlias.objects.all_tenants().get(model=version.model, name="production").version_id == version.pk
    # e5s ships two files (model.py + the portal's inference/e5.py): its digest names both
    e5 = ModelVersion.objects.all_tenants().get(model__name="e5s", tenant__isnull=True)
    assert e5.version == 1 and e5.artifact_uri == "builtin:e5s" and e5.parameters["precision"] == "auto"
    lines = "".join(
        f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n" for name, path in sorted(E5_FILES.items())
    )
    assert e5.artifact_sha256 == hashlib.sha256(lines.encode()).hexdigest()
    assert ModelAlias.objects.all_tenants().get(model=e5.model, name="production").version_id == e5.pk
    assert (
        AuditEvent.objects.all_tenants()
        .filter(tenant__isnull=True, action="models_registry.version.registered")
        .count()
        == 2
    )
    rows = api(make_token(owner_a, ["read"])).get(reverse("api:model-list")).json()["results"]
    assert sorted((r["name"], r["shared"]) for r in rows) == [("e5s", True), ("minilm", True)]


def test_platform_models_refuse_non_system_actors(owner_a):
    from models_registry.services import model_create
    from portal.exceptions import ApplicationError
    from tenants.actors import Actor

    with pytest.raises(ApplicationError):
        model_create(tenant=None, actor=Actor.for_user(owner_a.user, owner_a), name="sneaky", task="embedding")
    assert model_create(tenant=None, actor=SYSTEM, name="ok", task="embedding").is_shared


def test_readyz_includes_triton_only_when_configured(client, settings):
    from models_registry.backends import register_readiness_checks
    from portal import health
    from tests.support.net import free_port

    health._CHECKS.pop("triton", None)
    settings.TRITON_URL = ""
    assert "triton" not in register_readiness_checks()
    assert "triton" not in client.get("/readyz").json()["checks"]
    settings.TRITON_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        assert "triton" in register_readiness_checks()
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.json()["checks"]["triton"]["ok"] is False
    finally:
        health._CHECKS.pop("triton", None)


def test_serve_request_enqueues_the_task_on_the_deploy_queue(admin_a, api, model_a, django_capture_on_commit_callbacks):
    from models_registry.models import LocalServing
    from portal.celery import app as celery_app

    model_version(model_a)
    url = reverse("api:modelversion-serve", kwargs={"model_pk": model_a.pk, "version": 1})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = api(user=admin_a.user, tenant="acme").post(url, {}, format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "loading"
    assert len(callbacks) == 1
    name, kwargs, _on_send_error = callbacks[0].args  # portal.celery.enqueue: sent by name on commit
    assert name == "models_registry.serve"
    assert kwargs == {
        "tenant_id": admin_a.tenant.pk,
        "serving_id": resp.json()["id"],
        "triggered_by_user_id": admin_a.user.pk,
    }
    assert celery_app.amqp.router.route({}, name)["queue"].name == "deploy"
    row = LocalServing.objects.for_tenant(admin_a.tenant).get()
    assert row.triton_name == "acme.embedder" and row.requested_by == admin_a.user


def test_storage_folder_artifacts_are_platform_only_spec_free_and_digested_here(editor_a, admin_a, api, model_a):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from models_registry.services import serving_request, version_register
    from portal.exceptions import ApplicationError
    from tenants.actors import Actor

    folder = f"registry-test/{uuid.uuid4().hex}"  # a fresh folder: storage never overwrites
    for name, content in (("b.json", b"{}"), ("a.npz", b"\x00\x01")):
        default_storage.save(f"{folder}/{name}", ContentFile(content))
    uri = f"storage:{folder}"

    # A tenant cannot point the registry at files in the portal's own storage.
    client = api(user=editor_a.user, tenant="acme")
    resp = client.post(versions_url(model_a), {"backend": "python", "artifact_uri": uri, **ECHO_IO}, format="json")
    assert resp.status_code == 400 and "written by the portal itself" in resp.json()["detail"]

    def register(artifact_uri: str = uri, **extra):
        return version_register(
            tenant=model_a.tenant, actor=SYSTEM, model=model_a, backend="python", artifact_uri=artifact_uri, **extra
        )

    with pytest.raises(ApplicationError, match="not by Triton"):
        register(**ECHO_IO)
    with pytest.raises(ApplicationError, match="holds no files"):
        register(inputs=[], outputs=[], artifact_uri="storage:registry-test/nothing-here")
    with pytest.raises(ApplicationError, match="not a storage folder"):
        register(inputs=[], outputs=[], artifact_uri="storage:registry-test/../etc")
    assert not ModelVersion.objects.for_tenant(model_a.tenant).exists()

    version = register(inputs=[], outputs=[])
    expected = hashlib.sha256(b"a.npz\0\x00\x01\0b.json\0{}\0").hexdigest()
    assert (version.version, version.artifact_size, version.artifact_sha256) == (1, 4, expected)
    assert version.status == ModelVersion.Status.READY and version.artifact_name == ""

    # Served in-process by the app that stored it: the local Triton refuses to load it.
    admin = Actor.for_user(admin_a.user, admin_a)
    with pytest.raises(ApplicationError, match="Triton cannot load it"):
        serving_request(tenant=model_a.tenant, actor=admin, version=version)
