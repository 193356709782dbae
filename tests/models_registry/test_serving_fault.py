"""Fault: the local tritonserver is SIGKILLed while it serves a tenant's model.

A private, real tritonserver (free ports, its own repository; the session server is never
touched) is started by the serve task itself, as in production. After ``kill -9`` of its
process group: requests to the model fail as unavailable (the Q&A / embedding callers map that
to 503), /readyz answers 503 naming ``triton``, the server-status API says the server is not
ready, and the reconcile sweep (``models_registry.reconcile_local``, every 30 s under beat) puts
the row back to LOADING with a sentence; the load task it queues starts a new server and loads
the model again. No manual step; the model answers again.
"""

from __future__ import annotations

import os
import signal

import pytest
from django.urls import reverse

from inference.embedding import InferenceUnavailable, TritonEmbedder
from inference.triton.client import TritonAdmin
from inference.triton.local import local_server_stop
from models_registry.backends import check_triton, local_triton_config
from models_registry.models import LocalServing
from models_registry.tasks import serving_load_task, serving_reconcile_task
from portal import health
from tenants.models import AuditEvent
from tests.models_registry.test_serving import ECHO_IO, create_model, register, serve
from tests.support.net import free_port
from tests.support.triton import FIXTURES

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def private_local(tmp_path, settings):  # type: ignore[no-untyped-def]
    settings.TRITON_LOCAL_REPOSITORY = tmp_path / "repo"
    settings.TRITON_LOCAL_WORKDIR = str(tmp_path / "work")
    settings.TRITON_LOCAL_HTTP_PORT = free_port()
    settings.TRITON_LOCAL_GRPC_PORT = free_port()
    settings.TRITON_LOCAL_METRICS_PORT = free_port()
    settings.USE_TRITON_LOCAL = True
    settings.TRITON_URL = ""
    (tmp_path / "repo").mkdir()
    had_check = "triton" in health._CHECKS
    health.register_check("triton", check_triton)  # as at start-up when USE_TRITON_LOCAL is on
    config = local_triton_config()
    yield config
    local_server_stop(config)
    if not had_check:
        health._CHECKS.pop("triton", None)


def test_killed_tritonserver_is_reported_then_brought_back_by_the_sweep(
    private_local, admin_a, api, client, django_capture_on_commit_callbacks
):
    config = private_local
    admin_client = api(user=admin_a.user, tenant="acme")
    model_id = create_model(admin_client, "echo-fault")
    version = register(admin_client, model_id, (FIXTURES / "echo" / "model.py").read_bytes(), ECHO_IO)
    row = serve(admin_client, model_id, version["version"])  # the task starts the server
    assert row.status == LocalServing.Status.READY, row.error
    first_pid = int(config.pid_file.read_text())
    embedder = TritonEmbedder(config.http_url, row.triton_name)
    assert embedder.embed(["hello"]).shape == (1, 4)

    os.killpg(first_pid, signal.SIGKILL)  # the fault: the whole server group dies at once
    os.waitpid(first_pid, 0)  # this process started it: reap it, as the worker would

    with pytest.raises(InferenceUnavailable):
        embedder.embed(["hello"])
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["triton"]["ok"] is False
    status = admin_client.get(reverse("api:serving-server")).json()
    assert status["ready"] is False and "not ready or unreachable" in status["error"]

    with django_capture_on_commit_callbacks(execute=False) as queued:
        serving_reconcile_task()
    row.refresh_from_db()
    assert row.status == LocalServing.Status.LOADING
    assert row.error == "the local tritonserver stopped answering; reloading it automatically"
    assert len(queued) == 1  # the load task, sent on commit
    listed = admin_client.get(reverse("api:serving-detail", kwargs={"pk": row.pk})).json()
    assert listed["status"] == "loading" and "reloading it automatically" in listed["error"]
    assert AuditEvent.objects.for_tenant(admin_a.tenant).filter(action="models_registry.serving.lost").count() == 1
    with django_capture_on_commit_callbacks(execute=False) as again:
        serving_reconcile_task()  # idempotent: the row is no longer READY
    assert not again

    serving_load_task(tenant_id=row.tenant_id, serving_id=row.pk)  # what the worker runs next
    row.refresh_from_db()
    assert row.status == LocalServing.Status.READY and row.error == ""
    assert int(config.pid_file.read_text()) != first_pid
    assert embedder.embed(["hello again"]).shape == (1, 4)
    embedder.close()
    assert client.get("/readyz").json()["checks"]["triton"]["ok"] is True
    with django_capture_on_commit_callbacks(execute=False) as nothing:
        serving_reconcile_task()  # healthy: nothing to do
    assert not nothing
    assert TritonAdmin(config.http_url).model_ready(row.triton_name)
