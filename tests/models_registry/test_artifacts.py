"""Issue #12, "server files through artifact_uri": an editor registered `file:///etc/passwd` and
the API answered with its size and SHA-256; `file:///` made the request hash the whole
filesystem. Artifact URIs are now checked as text against the operator's allowed locations,
nothing on the server is opened while a request waits, and uploads are hashed as they stream in.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse

from models_registry.models import ModelVersion
from tests.factories.models_registry import ECHO_IO, registered_model

pytestmark = pytest.mark.django_db

BASE = {"backend": "onnxruntime", "max_batch_size": 8, **ECHO_IO}


@pytest.fixture
def model_a(tenant_a):
    return registered_model(tenant_a, "embedder")


@pytest.fixture
def editor(editor_a, api):
    return api(user=editor_a.user, tenant="acme")


def register(client, model, uri: str):
    return client.post(
        reverse("api:modelversion-list", kwargs={"model_pk": model.pk}), {**BASE, "artifact_uri": uri}, format="json"
    )


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "file:///",
        "file:///etc",
        "file://localhost/etc/passwd",
        "s3://someone-elses-bucket/model.onnx",
        "s3://models-evil/model.onnx",  # the allowed prefix is s3://models/, with its slash
        "s3://models/../etc/passwd",
        "s3://models/./x",
        "s3://models//x",
        "s3://models/%2e%2e/x",
        "s3://models/x?versionId=1",
        "s3://user:pw@models/x",
        "http://169.254.169.254/latest/meta-data/",
        "s3://models/a b",
        "models/x",
    ],
)
def test_artifact_uris_outside_the_allowed_locations_are_400(editor, model_a, uri):
    resp = register(editor, model_a, uri)
    assert resp.status_code == 400, (uri, resp.content)
    body = resp.json()
    assert "is refused" in body["detail"]
    assert "artifact_sha256" not in body and "root:" not in resp.content.decode()
    assert not ModelVersion.objects.for_tenant(model_a.tenant).exists()


def test_a_tenant_prefix_opens_only_that_tenants_location_and_nothing_is_read(editor, model_a, tmp_path, settings):
    settings.MODEL_ARTIFACT_URI_PREFIXES = [f"file://{tmp_path}/{{tenant}}/", f"file://{tmp_path}/shared/"]
    (tmp_path / "acme").mkdir()
    (tmp_path / "globex").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "globex" / "model.onnx").write_bytes(b"globex's weights")
    (tmp_path / "shared" / "model.onnx").write_bytes(b"platform weights")
    # A FIFO: opening or hashing it in the request would block until the test times out.
    fifo = tmp_path / "acme" / "model.onnx"
    os.mkfifo(fifo)

    started = time.monotonic()
    ok = register(editor, model_a, f"file://{fifo}")
    assert ok.status_code == 201, ok.content
    assert time.monotonic() - started < 5
    body = ok.json()
    assert body["artifact_uri"] == f"file://{fifo}"
    assert body["artifact_sha256"] == "" and body["artifact_size"] is None  # hashed by the serving task
    # The same directory layout of another tenant, or the platform's shared prefix: refused.
    for other in (tmp_path / "globex" / "model.onnx", tmp_path / "shared" / "model.onnx"):
        resp = register(editor, model_a, f"file://{other}")
        assert resp.status_code == 400 and "is refused" in resp.json()["detail"], resp.content
    assert "file://" + str(tmp_path / "acme") + "/" in register(editor, model_a, "file:///etc/passwd").json()["detail"]


def test_with_no_prefixes_configured_tenants_upload_or_use_builtins(editor, model_a, settings):
    settings.MODEL_ARTIFACT_URI_PREFIXES = []
    resp = register(editor, model_a, "s3://models/x.onnx")
    assert resp.status_code == 400 and "none are configured" in resp.json()["detail"]
    unknown = register(editor, model_a, "builtin:gpt5")
    assert unknown.status_code == 400 and "builtin:minilm" in unknown.json()["detail"]
    builtin = editor.post(
        reverse("api:modelversion-list", kwargs={"model_pk": model_a.pk}),
        {**BASE, "backend": "python", "artifact_uri": "builtin:minilm"},
        format="json",
    )
    assert builtin.status_code == 201 and len(builtin.json()["artifact_sha256"]) == 64


def test_reserved_python_parameters_are_refused(editor, model_a):
    resp = editor.post(
        reverse("api:modelversion-list", kwargs={"model_pk": model_a.pk}),
        {
            **BASE,
            "backend": "python",
            "artifact_uri": "s3://models/m/model.py",
            "parameters": {"EXECUTION_ENV_PATH": "/x.tar.gz"},
        },
        format="json",
    )
    assert resp.status_code == 400 and "EXECUTION_ENV_PATH is reserved" in resp.json()["detail"]


@pytest.mark.parametrize("memory_limit", [1 << 20, 16])  # in memory, and spooled to a temporary file
def test_uploads_are_hashed_while_they_stream_in(settings, memory_limit):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = memory_limit
    content = b"weights " * 1000
    request = RequestFactory().post("/x/", {"artifact": SimpleUploadedFile("m.onnx", content)})
    upload = request.FILES["artifact"]
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert upload.size == len(content)


def test_registration_uses_the_streamed_digest(editor, model_a, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 16
    content = b"streamed " * 500
    resp = editor.post(
        reverse("api:modelversion-list", kwargs={"model_pk": model_a.pk}),
        {
            **BASE,
            "inputs": json.dumps(ECHO_IO["inputs"]),
            "outputs": json.dumps(ECHO_IO["outputs"]),
            "artifact": SimpleUploadedFile("m.onnx", content),
        },
        format="multipart",
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["artifact_sha256"] == hashlib.sha256(content).hexdigest()
    assert resp.json()["artifact_size"] == len(content)
