"""Out-of-process set-up for the worker-SIGKILL fault tests (not a test module).

It runs in its own process because the Celery workers under test must share the database with
it (the pytest database is in memory). Each command migrates the database named by DATABASE_URL,
creates a tenant, starts the work through the service (which enqueues the task on commit, to the
broker in CELERY_BROKER_URL) and prints one JSON line of ids.

``python -m tests.faults.kill_scenario training <filler items>``
    the recommendations test catalog and its co-purchase events plus ``<filler items>`` catalog
    items with a description each, then ``training_run_start`` with content features on: the run
    embeds every item's text, which keeps it in its ``embedding`` stage for seconds (the more
    filler, the longer), so the test can kill the worker there.
``python -m tests.faults.kill_scenario rollout <api server url> <token> <namespace>``
    a cluster stored with the credentials of the Kubernetes API double the test runs, a registry
    version, a deployment of it in ``<namespace>``, then ``rollout_start``.
"""

from __future__ import annotations

import json
import os
import sys


def _setup():  # type: ignore[no-untyped-def]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from tenants.actors import Actor
    from tenants.services import tenant_create

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create(username="owner@kill.test", email="owner@kill.test")
    return tenant_create(actor=Actor.system(), slug="kill", name="Worker kill", owner=owner)


def training(filler: int) -> dict[str, int]:
    tenant = _setup()
    from recommendations.services import catalog_items_upsert, events_ingest, training_run_start
    from tenants.actors import Actor
    from tests.recommendations.app.conftest import catalog_rows, event_rows

    actor = Actor.system(label="test")
    rows = catalog_rows() + [
        {
            "external_id": f"filler-{i}",
            "title": f"Filler item {i}",
            "category": "Kitchen" if i % 2 else "Garden",
            "tags": ["filler"],
            "description": f"Filler item number {i}: a sturdy, well-made thing for the house and garden, "
            "described at some length so that embedding it takes a measurable moment.",
        }
        for i in range(filler)
    ]
    assert not catalog_items_upsert(tenant=tenant, actor=actor, rows=rows).errors
    assert not events_ingest(tenant=tenant, actor=actor, rows=event_rows(240)).errors
    run = training_run_start(tenant=tenant, actor=actor, params={"content": True})
    return {"tenant_id": tenant.pk, "run_id": run.pk}


def rollout(url: str, token: str, namespace: str) -> dict[str, int]:
    tenant = _setup()
    from deploy.services import cluster_create, deployment_create, rollout_start
    from tenants.actors import Actor
    from tests.factories.deploy import model_version

    actor = Actor.system(label="test")
    cluster = cluster_create(
        tenant=tenant, actor=actor, name="double", api_server=url, token=token, default_namespace=namespace
    )
    version = model_version(tenant, "echo", 1)
    deployment = deployment_create(
        tenant=tenant,
        actor=actor,
        name="kill-triton",
        cluster_id=cluster.pk,
        model_repository="s3://models/kill",
        model_version_ids=[version.pk],
        memory_limit="16Gi",
    )
    started = rollout_start(tenant=tenant, actor=actor, deployment=deployment)
    return {"tenant_id": tenant.pk, "deployment_id": deployment.pk, "rollout_id": started.pk}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "training":
        print(json.dumps(training(int(args[0]))))
    elif command == "rollout":
        print(json.dumps(rollout(*args)))
    else:
        raise SystemExit(f"unknown command {command!r}")
