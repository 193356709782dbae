"""Issue #12, "tenant code runs on the shared inference server": an editor registered a
python-backend model whose initialize() listed os.environ, an admin served it, and the load error
showed the portal's secrets. Now tenant code (python, pytorch, TensorRT, vLLM artifacts) loads on
the shared tritonserver only once a platform operator approved that exact artifact (its sha256)
in the Django admin, audited in the tenant's chain; the serving knobs are bounded there.

The approval attacks run against the real session tritonserver (tests/support/triton.py) through
the real API, the real Django admin action and the Celery task bodies.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse

from models_registry.models import ArtifactApproval, LocalServing, ModelVersion
from models_registry.tasks import serving_unload_task
from tenants.models import AuditEvent
from tests.factories.models_registry import ECHO_IO, approve_artifact, platform_operator, registered_model
from tests.models_registry.test_serving import ECHO_IO as ECHO_FORM
from tests.models_registry.test_serving import create_model, local, register, serve
from tests.support.triton import FIXTURES

__all__ = ["local"]  # the fixture pointing the local target at the session tritonserver
ECHO = (FIXTURES / "echo" / "model.py").read_bytes()
PROBE = (FIXTURES / "env_probe" / "model.py").read_bytes()


def serve_url(model_id: int, version: int) -> str:
    return reverse("api:modelversion-serve", kwargs={"model_pk": model_id, "version": version})


def actions(tenant) -> list[str]:
    return list(AuditEvent.objects.for_tenant(tenant).order_by("seq").values_list("action", flat=True))


@pytest.fixture
def admin_client(admin_a, api):
    return api(user=admin_a.user, tenant="acme")


@pytest.fixture
def operator(db):
    return platform_operator()


def admin_action(client, model: str, action: str, pks: list[int]):
    return client.post(
        f"/admin/models_registry/{model}/", {"action": action, "_selected_action": [str(pk) for pk in pks]}
    )


# ---- fast: refused before anything is queued -------------------------------------------------


@pytest.mark.django_db
def test_unapproved_upload_is_refused_with_409_and_queued_for_the_operator(admin_client, admin_a, tenant_a):
    model_id = create_model(admin_client, "probe")
    v = register(admin_client, model_id, PROBE, ECHO_FORM, approve=False)
    sha = hashlib.sha256(PROBE).hexdigest()
    assert v["approval"] == {"required": True, "status": None}

    resp = admin_client.post(serve_url(model_id, v["version"]), {}, format="json")
    assert resp.status_code == 409, resp.content
    assert resp.json()["detail"] == f"This python-backend artifact awaits platform approval (sha256 {sha})."
    assert resp.json()["code"] == "awaits_approval"
    assert not LocalServing.objects.all_tenants().exists()  # nothing queued, nothing written
    row = ArtifactApproval.objects.for_tenant(tenant_a).get()
    assert (row.sha256, row.backend, row.status, row.version_id) == (sha, "python", "pending", v["id"])
    assert actions(tenant_a)[-1] == "models_registry.artifact.approval_requested"
    again = admin_client.post(serve_url(model_id, v["version"]), {}, format="json")
    assert again.status_code == 409 and ArtifactApproval.objects.for_tenant(tenant_a).count() == 1
    detail = admin_client.get(reverse("api:modelversion-detail", kwargs={"model_pk": model_id, "version": 1}))
    assert detail.json()["approval"] == {"required": True, "status": "pending"}


@pytest.mark.django_db
def test_tenant_members_cannot_approve_and_only_operators_can(admin_client, owner_a, operator, client, tenant_a):
    model_id = create_model(admin_client, "probe")
    register(admin_client, model_id, PROBE, ECHO_FORM, approve=False)
    admin_client.post(serve_url(model_id, 1), {}, format="json")
    row = ArtifactApproval.objects.for_tenant(tenant_a).get()
    # The tenant's owner is no platform operator: the admin site is not theirs.
    client.force_login(owner_a.user)
    resp = admin_action(client, "artifactapproval", "approve", [row.pk])
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    # Staff without the approve permission: the action is not even offered.
    from tests.factories.tenants import UserFactory

    staff = UserFactory(username="staff@platform.test", is_staff=True)
    client.force_login(staff)
    assert admin_action(client, "artifactapproval", "approve", [row.pk]).status_code in (302, 403)
    row.refresh_from_db()
    assert row.status == "pending"
    client.force_login(operator)
    resp = admin_action(client, "artifactapproval", "approve", [row.pk])
    assert resp.status_code == 302, resp.content
    row.refresh_from_db()
    assert row.status == "approved" and row.decided_by == operator
    event = AuditEvent.objects.for_tenant(tenant_a).filter(action="models_registry.artifact.approved").get()
    assert event.actor_label == "ops@platform.test (platform operator)" and event.actor_id == operator.pk
    assert event.changes["sha256"] == row.sha256 and event.changes["status"] == ["pending", "approved"]
    page = client.get(f"/admin/models_registry/artifactapproval/{row.pk}/change/").content.decode()
    assert "matches the digest being decided" in page and "ENV[" in page  # the operator reads the code


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("serving", "max_batch_size", "message"),
    [
        ({"instance_count": 8}, 8, "instance_count 8 is above the shared server's limit of 2"),
        ({}, 1024, "max_batch_size 1024 is above the shared server's limit of 64"),
        ({"dynamic_batching": True, "max_queue_delay_us": 10_000_000}, 8, "max_queue_delay_us 10000000 is above"),
        ({"dynamic_batching": True, "preferred_batch_sizes": [1, 2, 2]}, 8, "must not repeat"),
    ],
)
def test_serving_knobs_beyond_the_shared_servers_limits_are_400(admin_client, serving, max_batch_size, message):
    model_id = create_model(admin_client, "big")
    v = register(
        admin_client,
        model_id,
        b"weights",
        ECHO_FORM,
        backend="onnxruntime",
        max_batch_size=str(max_batch_size),
        serving=json.dumps(serving),
    )
    resp = admin_client.post(serve_url(model_id, v["version"]), {}, format="json")
    assert resp.status_code == 400, resp.content
    assert message in resp.json()["detail"] and "ask the platform operator" in resp.json()["detail"]
    assert not LocalServing.objects.all_tenants().exists()


@pytest.mark.django_db
def test_limits_are_operator_settings(admin_client, settings):
    settings.SERVING_MAX_INSTANCE_COUNT = 4
    model_id = create_model(admin_client, "four")
    v = register(
        admin_client, model_id, b"w", ECHO_FORM, backend="onnxruntime", serving=json.dumps({"instance_count": 4})
    )
    assert admin_client.post(serve_url(model_id, v["version"]), {}, format="json").status_code == 202


@pytest.mark.django_db
def test_platform_models_and_builtins_need_no_approval(tenant_a, admin_client):
    from models_registry.services import version_register
    from tenants.actors import Actor

    shared = registered_model(None, "shared-echo")
    version = version_register(
        tenant=None, actor=Actor.system(), model=shared, backend="python", artifact_uri="builtin:minilm", **ECHO_IO
    )
    resp = admin_client.get(reverse("api:modelversion-detail", kwargs={"model_pk": shared.pk, "version": 1}))
    assert resp.json()["approval"] == {"required": False, "status": None}
    own = registered_model(tenant_a, "own-builtin")
    v = version_register(
        tenant=tenant_a, actor=Actor.system(), model=own, backend="python", artifact_uri="builtin:minilm", **ECHO_IO
    )
    assert admin_client.post(serve_url(own.pk, v.version), {}, format="json").status_code == 202
    assert version.pk and not ArtifactApproval.objects.all_tenants().exists()


# ---- slow: the real tritonserver -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.slow
def test_approved_bytes_load_changed_bytes_wait_and_revoking_unloads(local, admin_client, operator, client, tenant_a):
    model_id = create_model(admin_client, "echo-trust")
    v1 = register(admin_client, model_id, ECHO, ECHO_FORM, approve=False)
    assert admin_client.post(serve_url(model_id, 1), {}, format="json").status_code == 409
    client.force_login(operator)
    admin_action(client, "modelversion", "approve_artifacts", [v1["id"]])
    row = serve(admin_client, model_id, 1)
    assert row.status == LocalServing.Status.READY, row.error
    # A new version with the same bytes is covered; different bytes need a new approval.
    register(admin_client, model_id, ECHO, ECHO_FORM, approve=False)
    assert admin_client.post(serve_url(model_id, 2), {}, format="json").status_code == 202
    LocalServing.objects.all_tenants().filter(version__version=2).delete()
    v3 = register(admin_client, model_id, ECHO + b"\n# changed\n", ECHO_FORM, approve=False)
    resp = admin_client.post(serve_url(model_id, v3["version"]), {}, format="json")
    assert resp.status_code == 409 and hashlib.sha256(ECHO + b"\n# changed\n").hexdigest() in resp.json()["detail"]

    approval = ArtifactApproval.objects.for_tenant(tenant_a).get(sha256=v1["artifact_sha256"])
    admin_action(client, "artifactapproval", "revoke", [approval.pk])
    row.refresh_from_db()
    assert row.status == LocalServing.Status.UNLOADING
    serving_unload_task(tenant_id=tenant_a.pk, serving_id=row.pk)
    row.refresh_from_db()
    assert row.status == LocalServing.Status.UNLOADED and not local.http.model_ready(row.triton_name)
    assert admin_client.post(serve_url(model_id, 1), {}, format="json").status_code == 409
    assert "models_registry.artifact.revoked" in actions(tenant_a)


@pytest.mark.django_db
@pytest.mark.slow
def test_uri_artifacts_are_hashed_and_checked_by_the_task(
    local, admin_client, operator, client, tenant_a, tmp_path, settings
):
    """A URI's digest is unknown at registration: the serving task copies and hashes it, refuses
    it until approved, records the digest, and refuses bytes changed behind the URI later."""
    settings.MODEL_ARTIFACT_URI_PREFIXES = [f"file://{tmp_path}/{{tenant}}/"]
    (tmp_path / "acme" / "probe").mkdir(parents=True)
    artifact = tmp_path / "acme" / "probe" / "model.py"
    artifact.write_bytes(PROBE)
    sha = hashlib.sha256(PROBE).hexdigest()
    model = registered_model(tenant_a, "probe-uri")
    resp = admin_client.post(
        reverse("api:modelversion-list", kwargs={"model_pk": model.pk}),
        {"backend": "python", "max_batch_size": 8, "artifact_uri": f"file://{artifact}", **ECHO_IO},
        format="json",
    )
    assert resp.status_code == 201 and resp.json()["artifact_sha256"] == ""
    row = serve(admin_client, model.pk, 1)
    assert row.status == LocalServing.Status.FAILED
    assert row.error == f"This python-backend artifact awaits platform approval (sha256 {sha})."
    assert "ENV[" not in row.error and not (local.repo_dir / row.triton_name).exists()
    version = ModelVersion.objects.for_tenant(tenant_a).get(pk=resp.json()["id"])
    assert version.artifact_sha256 == sha and version.artifact_size == len(PROBE)

    client.force_login(operator)
    admin_action(client, "modelversion", "approve_artifacts", [version.pk])
    artifact.write_bytes(ECHO)  # swapped behind the URI after the approval
    row = serve(admin_client, model.pk, 1)
    assert row.status == LocalServing.Status.FAILED
    assert f"changed since its digest was recorded (sha256 {sha}, now {hashlib.sha256(ECHO).hexdigest()})" in row.error
    assert not local.http.model_ready(row.triton_name)


@pytest.mark.django_db
@pytest.mark.slow
def test_artifact_directories_are_never_listed_and_links_never_followed(
    local, admin_client, tenant_a, tmp_path, settings
):
    settings.MODEL_ARTIFACT_URI_PREFIXES = [f"file://{tmp_path}/{{tenant}}/"]
    weights = tmp_path / "acme" / "weights-only"
    weights.mkdir(parents=True)
    (weights / "secret-plan-name.bin").write_bytes(b"\0" * 16)
    link = tmp_path / "acme" / "passwd.onnx"
    link.symlink_to("/etc/passwd")
    linked_dir = tmp_path / "acme" / "with-link"
    linked_dir.mkdir()
    (linked_dir / "model.onnx").symlink_to("/etc/passwd")
    model = registered_model(tenant_a, "dirs")

    def register_uri(target, backend: str) -> ModelVersion:
        resp = admin_client.post(
            reverse("api:modelversion-list", kwargs={"model_pk": model.pk}),
            {"backend": backend, "max_batch_size": 8, "artifact_uri": f"file://{target}", **ECHO_IO},
            format="json",
        )
        assert resp.status_code == 201, resp.content
        return ModelVersion.objects.for_tenant(tenant_a).get(pk=resp.json()["id"])

    # A python directory without model.py: first it awaits approval (digest recorded), then,
    # approved, it fails without naming the directory's files.
    dir_version = register_uri(weights, "python")
    assert "awaits platform approval" in serve(admin_client, model.pk, dir_version.version).error
    dir_version.refresh_from_db()
    approve_artifact(dir_version)
    row = serve(admin_client, model.pk, dir_version.version)
    assert row.status == LocalServing.Status.FAILED and "needs a model.py" in row.error
    assert "secret-plan-name" not in row.error and "weights-only" not in row.error

    for target, message in ((link, "leads outside its allowed location"), (linked_dir, "contains a symbolic link")):
        version = register_uri(target, "onnxruntime")
        row = serve(admin_client, model.pk, version.version)
        assert row.status == LocalServing.Status.FAILED and message in row.error, row.error
        assert "root:" not in row.error
        version.refresh_from_db()
        assert version.artifact_sha256 == ""  # /etc/passwd was never read, so never hashed
