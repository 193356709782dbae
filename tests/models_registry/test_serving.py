"""Local Triton serving end to end, against the real session tritonserver (tests/support/triton.py).

The Celery task functions are called directly; settings point the local target at the shared
server's repository and ports, so the task finds it ready and does not start another one (the
start/stop test at the end uses its own short-lived server on free ports).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inference.embedding import E5Embedder, InProcessEmbedder, TritonEmbedder, embedder_from_config
from inference.triton.builtin import MINILM_MODEL_PY
from inference.triton.client import TritonAdmin
from inference.triton.local import _pid_is_our_server
from models_registry.backends import local_triton_config
from models_registry.models import LocalServing, ModelVersion
from models_registry.tasks import (
    local_triton_start_task,
    local_triton_stop_task,
    serving_load_task,
    serving_unload_task,
)
from models_registry.trust import EXECUTABLE_BACKENDS
from tenants.models import AuditEvent
from tests.factories.models_registry import approve_artifact
from tests.support.net import free_port
from tests.support.triton import FIXTURES, SharedTriton

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TEXTS = [
    "Aspirin reduces the risk of myocardial infarction in high-risk patients.",
    "The Federal Aviation Administration issued an airworthiness directive.",
    "short",
    "Dynamic batching groups concurrent requests into one model execution.",
]
MINILM_IO = {
    "inputs": json.dumps([{"name": "text", "data_type": "BYTES", "dims": [1]}]),
    "outputs": json.dumps([{"name": "embedding", "data_type": "FP32", "dims": [384]}]),
}
ECHO_IO = {
    "inputs": json.dumps([{"name": "text", "data_type": "BYTES", "dims": [1]}]),
    "outputs": json.dumps([{"name": "embedding", "data_type": "FP32", "dims": [4]}]),
}


@pytest.fixture
def local(triton: SharedTriton, settings) -> SharedTriton:
    """Point the local Triton target (settings) at the session server."""
    server = triton.server
    settings.TRITON_LOCAL_REPOSITORY = triton.repo_dir
    settings.TRITON_LOCAL_HTTP_PORT = server.http_port
    settings.TRITON_LOCAL_GRPC_PORT = server.grpc_port
    settings.TRITON_LOCAL_METRICS_PORT = server.metrics_port
    settings.TRITON_LOCAL_WORKDIR = str(server.workdir)
    return triton


@pytest.fixture
def admin_client(admin_a, api):
    return api(user=admin_a.user, tenant="acme")


def create_model(client, name: str, task: str = "embedding") -> int:
    resp = client.post(reverse("api:model-list"), {"name": name, "task": task}, format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


def register(client, model_id: int, content: bytes, io: dict, *, approve: bool = True, **extra) -> dict:
    """Register a version through the API; with `approve`, a platform operator then approves its
    artifact (tenant code never loads on the shared server without that)."""
    payload = {
        "backend": "python",
        "max_batch_size": "16",
        "artifact": SimpleUploadedFile("upload.py", content),
        **io,
        **extra,
    }
    resp = client.post(reverse("api:modelversion-list", kwargs={"model_pk": model_id}), payload, format="multipart")
    assert resp.status_code == 201, resp.content
    if approve and payload["backend"] in EXECUTABLE_BACKENDS:
        approve_artifact(ModelVersion.objects.all_tenants().get(pk=resp.json()["id"]))
    return resp.json()


def serve(client, model_id: int, version: int) -> LocalServing:
    """POST serve (202, row LOADING), then run the Celery task body right here."""
    url = reverse("api:modelversion-serve", kwargs={"model_pk": model_id, "version": version})
    resp = client.post(url, {}, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "loading"
    row = LocalServing.objects.all_tenants().get(pk=resp.json()["id"])
    serving_load_task(tenant_id=row.tenant_id, serving_id=row.pk)
    return LocalServing.objects.all_tenants().select_related("version").get(pk=resp.json()["id"])


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_register_promote_serve_embed_unload(local, admin_client, admin_a):
    model_id = create_model(admin_client, "minilm-acme")
    content = MINILM_MODEL_PY.read_bytes()
    version = register(
        admin_client,
        model_id,
        content,
        MINILM_IO,
        serving=json.dumps({"dynamic_batching": True, "max_queue_delay_us": 2000}),
        parameters=json.dumps({"threads": "1"}),
    )
    prod = admin_client.put(
        reverse("api:modelalias-detail", kwargs={"model_pk": model_id, "name": "production"}),
        {"version": version["version"]},
        format="json",
    )
    assert prod.status_code == 200 and prod.json()["version"] == version["version"]

    row = serve(admin_client, model_id, version["version"])
    assert row.status == LocalServing.Status.READY, row.error
    assert row.triton_name == "acme.minilm-acme" and row.attempts == 1
    assert row.version.status == ModelVersion.Status.READY
    entry = Path(local.repo_dir) / row.triton_name
    assert (entry / "1" / "model.py").read_bytes() == content  # the uploaded artifact, as model.py
    assert local.http.model_ready(row.triton_name, "1")

    reference = InProcessEmbedder().embed(TEXTS)
    for url in (local.server.http_url, local.server.grpc_url):
        emb = TritonEmbedder(url, row.triton_name)
        try:
            vectors = emb.embed(TEXTS)
        finally:
            emb.close()
        assert vectors.shape == (len(TEXTS), 384)
        assert cosine_rows(vectors, reference).min() > 0.999, url

    server = admin_client.get(reverse("api:serving-server")).json()
    assert server["ready"] is True
    stats = {m["name"]: m for m in server["models"]}
    assert stats[row.triton_name]["state"] == "READY"
    assert stats[row.triton_name]["inference_count"] >= 2 * len(TEXTS)
    assert stats[row.triton_name]["avg_request_ms"] > 0
    page = admin_client.get(reverse("models_registry:serving", kwargs={"tenant_slug": "acme"}))
    assert page.status_code == 200 and row.triton_name in page.content.decode()

    resp = admin_client.post(
        reverse("api:modelversion-unserve", kwargs={"model_pk": model_id, "version": version["version"]}),
        {},
        format="json",
    )
    assert resp.status_code == 202 and resp.json()["status"] == "unloading"
    serving_unload_task(tenant_id=row.tenant_id, serving_id=row.pk)
    row.refresh_from_db()
    assert row.status == LocalServing.Status.UNLOADED
    assert not local.http.model_ready(row.triton_name)
    actions = set(AuditEvent.objects.for_tenant(admin_a.tenant).values_list("action", flat=True))
    assert {
        "models_registry.serving.requested",
        "models_registry.serving.ready",
        "models_registry.serving.unloaded",
    } <= actions


def test_bad_artifacts_fail_with_tritons_reason_and_server_stays_healthy(local, admin_client, settings):
    failing = (FIXTURES / "failing_init" / "model.py").read_bytes()
    echo = (FIXTURES / "echo" / "model.py").read_bytes()

    # 1. model.py raises in initialize(): Triton's own message comes back.
    raises = create_model(admin_client, "raises-at-load")
    v = register(admin_client, raises, failing, ECHO_IO)
    row = serve(admin_client, raises, v["version"])
    assert row.status == LocalServing.Status.FAILED
    assert "deliberate failure in initialize" in row.error
    # Only the model's own message: no traceback, no server path (the repository lives in var/).
    assert "At:" not in row.error and "/" not in row.error, row.error
    assert row.version.status == ModelVersion.Status.FAILED and row.version.error == row.error

    # 2. wrong config: a backend this server does not have (the wheel ships only python).
    wrong = create_model(admin_client, "wrong-backend")
    v = register(admin_client, wrong, b"not really onnx", ECHO_IO, backend="onnxruntime")
    row = serve(admin_client, wrong, v["version"])
    assert row.status == LocalServing.Status.FAILED
    assert "onnxruntime" in row.error and "wrong-backend" in row.error, row.error

    # 3. missing file inside the version dir: python backend without model.py.
    nofile = create_model(admin_client, "no-model-py")
    v = register(admin_client, nofile, echo, ECHO_IO, artifact_name="weights.bin")
    row = serve(admin_client, nofile, v["version"])
    assert row.status == LocalServing.Status.FAILED and "model.py" in row.error, row.error

    # 4. the stored artifact vanished from storage: fails before Triton is asked.
    gone = create_model(admin_client, "gone")
    v = register(admin_client, gone, echo, ECHO_IO)
    os.remove(ModelVersion.objects.all_tenants().get(pk=v["id"]).artifact.path)
    row = serve(admin_client, gone, v["version"])
    assert row.status == LocalServing.Status.FAILED and "missing from storage" in row.error

    # The server is still healthy and serves a good model next to the failed ones.
    assert local.http.server_ready()
    good = create_model(admin_client, "echo-good")
    v = register(admin_client, good, echo, ECHO_IO)
    row = serve(admin_client, good, v["version"])
    assert row.status == LocalServing.Status.READY, row.error
    failed = admin_client.get(reverse("api:serving-list")).json()["results"]
    assert sorted(r["status"] for r in failed) == ["failed"] * 4 + ["ready"]
    serving_row = admin_client.get(reverse("api:serving-detail", kwargs={"pk": row.pk})).json()
    assert serving_row["triton_name"] == "acme.echo-good"
    # A redelivered task for a finished row is a no-op (claim pattern).
    serving_load_task(tenant_id=row.tenant_id, serving_id=row.pk)
    row.refresh_from_db()
    assert row.attempts == 1 and row.status == LocalServing.Status.READY
    local.http.unload_model(row.triton_name, wait_s=5)


def test_new_version_replaces_the_served_one(local, admin_client):
    echo = (FIXTURES / "echo" / "model.py").read_bytes()
    model_id = create_model(admin_client, "echo-versions")
    v1 = register(admin_client, model_id, echo, ECHO_IO)
    v2 = register(admin_client, model_id, echo, ECHO_IO)
    first = serve(admin_client, model_id, v1["version"])
    second = serve(admin_client, model_id, v2["version"])
    first.refresh_from_db()
    assert second.status == LocalServing.Status.READY
    assert first.status == LocalServing.Status.UNLOADED and "replaced by version 2" in first.error
    assert local.http.model_ready(second.triton_name, "2")
    assert not local.http.model_ready(second.triton_name, "1")
    local.http.unload_model(second.triton_name, wait_s=5)


def test_shared_builtin_minilm_is_servable_out_of_the_box(local, admin_client):
    from django.core.management import call_command

    call_command("ensure_builtin_models", "--serve")
    row = LocalServing.objects.all_tenants().get(version__model__name="minilm", tenant__isnull=True)
    assert row.status == LocalServing.Status.READY and row.triton_name == "minilm"
    # Tenants see the shared model's serving row and stats, read-only.
    rows = admin_client.get(reverse("api:serving-list")).json()["results"]
    assert [r["triton_name"] for r in rows if r["shared"]] == ["minilm"]
    emb = TritonEmbedder(local.server.grpc_url, "minilm")  # what TRITON_URL/TRITON_EMBED_MODEL select
    try:
        assert emb.embed(["hello"]).shape == (1, 384)
    finally:
        emb.close()


def test_task_starts_and_stops_a_real_server(tmp_path, settings):
    settings.TRITON_LOCAL_REPOSITORY = tmp_path / "repo"
    settings.TRITON_LOCAL_WORKDIR = str(tmp_path / "work")
    settings.TRITON_LOCAL_HTTP_PORT = free_port()
    settings.TRITON_LOCAL_GRPC_PORT = free_port()
    settings.TRITON_LOCAL_METRICS_PORT = free_port()
    config = local_triton_config()
    admin = TritonAdmin(config.http_url)
    try:
        local_triton_start_task()
        assert admin.server_ready()
        pid = int(config.pid_file.read_text())
        assert _pid_is_our_server(pid, config)
        local_triton_start_task()  # idempotent: reuses the running server
        assert int(config.pid_file.read_text()) == pid
    finally:
        local_triton_stop_task()
    assert not admin.server_ready()
    assert not config.pid_file.exists()
    assert not Path(f"/proc/{pid}").exists() or not _pid_is_our_server(pid, config)
    admin.close()


def test_shared_builtin_e5_is_servable_from_the_registry(local):
    """The embedded default's embedder, registered and served like any model (two shipped files:
    model.py and the portal's inference/e5.py), gives the in-process e5's vectors."""
    from django.core.management import call_command

    call_command("ensure_builtin_models", "--serve", "e5s")
    row = LocalServing.objects.all_tenants().get(version__model__name="e5s", tenant__isnull=True)
    assert row.status == LocalServing.Status.READY and row.triton_name == "e5s", row.error
    version_dir = Path(local.repo_dir) / "e5s" / "1"
    assert {"e5.py", "model.py"} <= {p.name for p in version_dir.iterdir()}
    remote = embedder_from_config("triton", local.server.grpc_url, "e5s")  # TRITON_EMBED_MODEL=e5s
    assert isinstance(remote, TritonEmbedder)
    try:
        texts = ["The DMCA was signed into law in 1998.", "Die Euler-Charakteristik des Oktaeders ist 2."]
        cos = np.sum(remote.embed(texts) * E5Embedder(threads=1).embed(texts), axis=1)
        assert np.all(cos > 0.995), cos
    finally:
        remote.close()
        local.http.unload_model("e5s", wait_s=10)
