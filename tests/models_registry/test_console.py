"""Console pages under /t/<slug>/models/: list with shared badge, detail, register form, alias
buttons and their RBAC, version page with config.pbtxt, nav entries."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from models_registry.models import ModelAlias, ModelVersion
from tests.factories.models_registry import ECHO_IO, model_version, registered_model

pytestmark = pytest.mark.django_db


def login(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_list_shows_own_and_shared_models_with_badge(viewer_a, tenant_b):
    registered_model(None, "platform-embedder")
    registered_model(viewer_a.tenant, "own-model")
    registered_model(tenant_b, "globex-secret")
    resp = login(viewer_a).get(reverse("models_registry:list", kwargs={"tenant_slug": "acme"}))
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "own-model" in html and "platform-embedder" in html and "globex-secret" not in html
    assert html.count('title="Platform-shared: read-only">shared</span>') == 1
    assert 'href="/t/acme/models/"' in html and 'href="/t/acme/models/serving/"' in html  # nav entries
    assert "New model" not in html  # viewers cannot create


def test_other_tenants_model_page_is_404(owner_a, tenant_b):
    foreign = registered_model(tenant_b, "globex-secret")
    resp = login(owner_a).get(reverse("models_registry:detail", kwargs={"tenant_slug": "acme", "model_id": foreign.pk}))
    assert resp.status_code == 404
    outsider_view = login(owner_a).get(reverse("models_registry:list", kwargs={"tenant_slug": "globex"}))
    assert outsider_view.status_code == 404


def test_register_version_form_with_upload(editor_a):
    model = registered_model(editor_a.tenant, "uploaded")
    client = login(editor_a)
    url = reverse("models_registry:register", kwargs={"tenant_slug": "acme", "model_id": model.pk})
    assert client.get(url).status_code == 200
    content = b"# python model\n"
    resp = client.post(
        url,
        {
            "backend": "python",
            "max_batch_size": "8",
            "artifact": SimpleUploadedFile("m.py", content),
            "inputs": json.dumps(ECHO_IO["inputs"]),
            "outputs": json.dumps(ECHO_IO["outputs"]),
            "metrics": '{"accuracy": 0.9}',
            "serving": '{"dynamic_batching": true}',
            "parameters": "{}",
            "source_run": "run-7",
            "dataset_hash": "",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:500]
    version = ModelVersion.objects.for_tenant(editor_a.tenant).get(model=model)
    assert version.version == 1 and version.artifact_sha256 == hashlib.sha256(content).hexdigest()
    bad = client.post(
        url,
        {
            "backend": "python",
            "artifact_uri": "s3://models/x/model.py",
            "max_batch_size": "8",
            "inputs": '[{"name": "text", "data_type": "BYTES", "dims": [-2]}]',
            "outputs": json.dumps(ECHO_IO["outputs"]),
        },
    )
    assert bad.status_code == 400 and "dim -2 is invalid" in bad.content.decode()
    page = client.get(
        reverse("models_registry:version", kwargs={"tenant_slug": "acme", "model_id": model.pk, "version": 1})
    ).content.decode()
    assert version.artifact_sha256 in page and "dynamic_batching" in page and "acme.uploaded" in page


def test_viewer_cannot_open_register_form(viewer_a):
    model = registered_model(viewer_a.tenant, "m")
    resp = login(viewer_a).get(
        reverse("models_registry:register", kwargs={"tenant_slug": "acme", "model_id": model.pk})
    )
    assert resp.status_code == 403


def test_alias_buttons_respect_promote(editor_a, admin_a):
    model = registered_model(editor_a.tenant, "aliased")
    model_version(model, metrics={"accuracy": 0.8})
    model_version(model, metrics={"accuracy": 0.9})
    url = reverse("models_registry:detail", kwargs={"tenant_slug": "acme", "model_id": model.pk})
    editor_page = login(editor_a).get(url).content.decode()
    assert "<option>staging</option>" in editor_page and "<option>production</option>" not in editor_page
    assert "Serve locally" not in editor_page  # deploy.manage is admin-only
    login(editor_a).post(url, {"op": "alias", "alias": "production", "version": "2"})
    assert not ModelAlias.objects.for_tenant(editor_a.tenant).filter(name="production").exists()
    login(admin_a).post(url, {"op": "alias", "alias": "production", "version": "2"})
    assert ModelAlias.objects.for_tenant(admin_a.tenant).get(name="production").version.version == 2
    admin_page = login(admin_a).get(url, {"compare": ["1", "2"]}).content.decode()
    assert "<strong>0.9</strong>" in admin_page and "Serve locally" in admin_page


def test_shared_model_detail_has_no_write_controls(owner_a):
    shared = registered_model(None, "platform-embedder")
    model_version(shared)
    client = login(owner_a)
    url = reverse("models_registry:detail", kwargs={"tenant_slug": "acme", "model_id": shared.pk})
    page = client.get(url).content.decode()
    assert "Point alias here" not in page and "Register a new version" not in page
    assert client.post(url, {"op": "alias", "alias": "staging", "version": "1"}).status_code == 404
    assert not ModelAlias.objects.all_tenants().filter(model=shared).exists()
