"""Data for the API fuzz run (tests/test_api_fuzz.py): one tenant with a row behind every list
and detail route, built through the services so numbering, hashing and audit are real."""

from __future__ import annotations

from deploy.models import Deployment
from deploy.services import cluster_create
from deploy.services.deployments import deployment_create
from deploy.services.rollouts import rollout_start
from recommendations.services.catalog import catalog_items_upsert
from tenants.actors import Actor
from tenants.models import Membership, Tenant
from tests.factories.documents import document
from tests.factories.models_registry import model_alias, model_version, registered_model


def seed_fuzz_tenant(tenant: Tenant, owner: Membership) -> None:
    actor = Actor.system(label="fuzz-seed")
    document(tenant, title="handbook", with_chunk=True)
    document(tenant, title="pending", status="queued")
    model = registered_model(tenant, name="echo")
    version = model_version(model)
    model_alias(version)
    # A closed port on loopback (allow-listed by the test): checks fail fast, nothing leaves.
    cluster = cluster_create(
        tenant=tenant,
        actor=actor,
        name="kind-a",
        api_server="http://127.0.0.1:9",
        token="t0k",
        default_namespace="team-a",
    )
    deployment = deployment_create(
        tenant=tenant,
        actor=actor,
        name="echo-svc",
        target=Deployment.Target.KUBERNETES,
        cluster_id=cluster.pk,
        model_version_ids=[version.pk],
        model_repository="s3://models/echo",
    )
    rollout_start(tenant=tenant, actor=actor, deployment=deployment)
    catalog_items_upsert(
        tenant=tenant,
        actor=actor,
        rows=[{"external_id": f"item-{i}", "title": f"Item {i}", "category": "books"} for i in range(5)],
    )
