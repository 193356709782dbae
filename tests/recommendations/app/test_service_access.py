"""Every recommendations service that changes state checks access itself (tenants.access), so a
caller that skips the API or console base is still refused, and the refusal is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portal.exceptions import PermissionDenied
from recommendations.models import CatalogItem, Event, Experiment, Exposure, TrainingRun
from recommendations.services import (
    catalog_item_deactivate,
    catalog_items_upsert,
    events_ingest,
    experiment_create,
    experiment_stop,
    recommendation_serve,
    training_run_activate,
    training_run_start,
)
from tenants.actors import Actor
from tenants.models import AuditEvent, Tenant
from tenants.services import token_create

ROW = {"external_id": "kettle", "title": "Kettle"}


@pytest.fixture
def objects(tenant_a: Tenant) -> dict[str, Any]:
    """One catalog item, a ready run and a running experiment, made by the platform."""
    catalog_items_upsert(tenant=tenant_a, actor=Actor.system(), rows=[ROW])
    run = TrainingRun.objects.create(tenant=tenant_a, version=1, status=TrainingRun.Status.READY)
    experiment = Experiment.objects.create(
        tenant=tenant_a, key="exp", variants=[{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    )
    return {"item": CatalogItem.objects.for_tenant(tenant_a).get(external_id="kettle"), "run": run, "exp": experiment}


# (capability refused, service call as (tenant, actor, objects) -> None)
CALLS: dict[str, tuple[str, Callable[..., Any]]] = {
    "catalog_items_upsert": (
        "catalog.write",
        lambda t, a, o: catalog_items_upsert(tenant=t, actor=a, rows=[{"external_id": "new", "title": "New"}]),
    ),
    "catalog_item_deactivate": (
        "catalog.write",
        lambda t, a, o: catalog_item_deactivate(tenant=t, actor=a, item=o["item"]),
    ),
    "events_ingest": (
        "events.write",
        lambda t, a, o: events_ingest(
            tenant=t, actor=a, rows=[{"user_id": "u1", "item_id": "kettle", "type": "view", "timestamp": 1714564800}]
        ),
    ),
    "training_run_start": ("recs.train", lambda t, a, o: training_run_start(tenant=t, actor=a)),
    "training_run_activate": ("recs.train", lambda t, a, o: training_run_activate(tenant=t, actor=a, run=o["run"])),
    "experiment_create": (
        "experiments.manage",
        lambda t, a, o: experiment_create(tenant=t, actor=a, key="exp2", variants=[{"name": "a", "weight": 1}]),
    ),
    "experiment_stop": (
        "experiments.manage",
        lambda t, a, o: experiment_stop(tenant=t, actor=a, experiment=o["exp"]),
    ),
}


def _state(tenant: Tenant) -> tuple[Any, ...]:
    """Everything the services above could change (proves a refusal changed nothing)."""
    return (
        list(CatalogItem.objects.for_tenant(tenant).values_list("external_id", "active").order_by("pk")),
        Event.objects.for_tenant(tenant).count(),
        list(TrainingRun.objects.for_tenant(tenant).values_list("version", "is_active").order_by("pk")),
        list(Experiment.objects.for_tenant(tenant).values_list("key", "status").order_by("pk")),
        Exposure.objects.for_tenant(tenant).count(),
    )


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_viewer_calling_the_service_directly_is_refused_and_audited(name, viewer_a, objects, tenant_a):
    capability, call = CALLS[name]
    before = _state(tenant_a)
    with pytest.raises(PermissionDenied, match=rf"Your role \(viewer\) does not allow '{capability}'"):
        call(tenant_a, Actor.for_user(viewer_a.user, viewer_a), objects)
    assert _state(tenant_a) == before
    denial = AuditEvent.objects.for_tenant(tenant_a).filter(action="tenants.permission.denied").latest("seq")
    assert denial.actor == viewer_a.user and denial.changes["reason"] == f"missing capability '{capability}'"


def test_serving_without_the_recommend_scope_is_refused_and_audited(viewer_a, tenant_a):
    token = token_create(tenant=tenant_a, actor=Actor.system(), membership=viewer_a, name="r", scopes=["read"]).token
    with pytest.raises(PermissionDenied, match=r"This API token's scopes do not allow 'recs\.query'"):
        recommendation_serve(tenant=tenant_a, actor=Actor.for_token(token), user_id="u1", k=5)
    denial = AuditEvent.objects.for_tenant(tenant_a).filter(action="tenants.permission.denied").latest("seq")
    assert denial.actor_token == token


def test_an_owner_of_another_tenant_is_refused_here(owner_b, tenant_a, objects):
    with pytest.raises(PermissionDenied, match=r"Your role \(none\)"):
        catalog_item_deactivate(tenant=tenant_a, actor=Actor.for_user(owner_b.user, owner_b), item=objects["item"])
    assert CatalogItem.objects.for_tenant(tenant_a).get(external_id="kettle").active is True
