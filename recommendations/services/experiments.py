"""A/B experiments: create (validated variants), stop / declare a winner, results with CIs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.exceptions import ApplicationError, Conflict
from recommendations import constants as C
from recommendations.abtest import EventRow, ExposureRow, attribute
from recommendations.models import Event, Experiment, Exposure, TrainingRun
from recommendations.selectors import experiment_get_running
from recommendations.services.training import training_run_activate
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

MAX_VARIANTS = 10


def _clean_variants(*, tenant: Tenant, variants: Any) -> list[dict[str, Any]]:
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise ApplicationError(f"An experiment needs between 2 and {MAX_VARIANTS} variants.")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for n, v in enumerate(variants, start=1):
        if not isinstance(v, dict):
            raise ApplicationError(f"Variant {n} must be an object.")
        name = str(v.get("name") or "").strip()
        if not name or len(name) > 100 or name in names:
            raise ApplicationError(f"Variant {n} needs a unique name of at most 100 characters.")
        weight = v.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1000:
            raise ApplicationError(f"Variant '{name}' needs a weight between 0 (exclusive) and 1000.")
        run_id, strategy = v.get("run_id"), v.get("strategy")
        if (run_id is None) == (strategy is None):
            raise ApplicationError(f"Variant '{name}' needs exactly one of run_id (a model version) or strategy.")
        clean: dict[str, Any] = {"name": name, "weight": float(weight)}
        if strategy is not None:
            if strategy not in C.STRATEGIES:
                raise ApplicationError(
                    f"Variant '{name}': unknown strategy '{strategy}'; use one of {', '.join(C.STRATEGIES)}."
                )
            clean["strategy"] = strategy
        else:
            if isinstance(run_id, bool) or not isinstance(run_id, int):
                raise ApplicationError(f"Variant '{name}': run_id must be the id of a recommender version.")
            # Resolved within the tenant: another tenant's run id is "not found" like any bad id.
            run = TrainingRun.objects.for_tenant(tenant).filter(pk=run_id).first()
            if run is None:
                raise ApplicationError(f"Variant '{name}': recommender {run_id} not found.")
            if run.status != TrainingRun.Status.READY:
                raise ApplicationError(f"Variant '{name}': recommender v{run.version} is {run.status}, not ready.")
            clean["run_id"] = run.pk
            clean["version"] = run.version
        names.add(name)
        out.append(clean)
    return out


def experiment_create(
    *, tenant: Tenant, actor: Actor, key: str, variants: Any, name: str = "", attribution_window_s: int = 86_400
) -> Experiment:
    """Start an experiment (running at once). One running experiment per tenant. Audited."""
    access_require(tenant=tenant, actor=actor, capability="experiments.manage")
    with transaction.atomic():
        variants = _clean_variants(tenant=tenant, variants=variants)
        if Experiment.objects.for_tenant(tenant).filter(key=key).exists():
            raise Conflict(f"An experiment with key '{key}' already exists.")
        running = experiment_get_running(tenant=tenant)
        if running is not None:
            raise Conflict(f"Experiment '{running.key}' is still running; stop it first.")
        exp = Experiment(
            tenant=tenant, key=key, name=name, variants=variants, attribution_window_s=attribution_window_s
        )
        exp.full_clean()
        exp.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="recommendations.experiment.started",
            target=exp,
            changes={"variants": variants},
        )
        return exp


def experiment_stop(*, tenant: Tenant, actor: Actor, experiment: Experiment, winner: str | None = None) -> Experiment:
    """Stop the experiment; with ``winner``, record it and activate its model version. Audited."""
    access_require(tenant=tenant, actor=actor, capability="experiments.manage", target=experiment)
    with transaction.atomic():
        exp = Experiment.objects.for_tenant(tenant).select_for_update().get(pk=experiment.pk)
        if exp.status != Experiment.Status.RUNNING:
            raise Conflict(f"Experiment '{exp.key}' is already stopped.")
        variant = None
        if winner:
            variant = exp.variant(winner)
            if variant is None:
                raise ApplicationError(f"'{winner}' is not a variant of experiment '{exp.key}'.")
        exp.status = Experiment.Status.STOPPED
        exp.stopped_at = timezone.now()
        exp.winner = winner or ""
        exp.save(update_fields=["status", "stopped_at", "winner", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="recommendations.experiment.stopped",
            target=exp,
            changes={"status": ["running", "stopped"], "winner": winner or None},
        )
        if variant is not None and variant.get("run_id"):
            run = TrainingRun.objects.for_tenant(tenant).get(pk=variant["run_id"])
            training_run_activate(tenant=tenant, actor=actor, run=run)
        return exp


def experiment_results(*, tenant: Tenant, experiment: Experiment) -> dict[str, Any]:
    """Per-variant exposures, CTR and conversion with 95% Wilson intervals (see abtest.attribute)."""
    exposures = [
        ExposureRow(pk, variant, user, tuple(items or ()), at.timestamp())
        for pk, variant, user, items, at in Exposure.objects.for_tenant(tenant)
        .filter(experiment=experiment)
        .values_list("id", "variant", "user_id", "item_ids", "created_at")
        .order_by()
    ]
    events: list[EventRow] = []
    if exposures:
        users = {e.user_id for e in exposures}
        qs = (
            Event.objects.for_tenant(tenant)
            .filter(type__in=C.CLICK_TYPES + C.CONVERSION_TYPES, timestamp__gte=experiment.started_at)
            .values_list("user_id", "item__external_id", "type", "timestamp")
            .order_by()
        )
        if experiment.stopped_at is not None:
            qs = qs.filter(timestamp__lte=experiment.stopped_at + dt.timedelta(seconds=experiment.attribution_window_s))
        events = [EventRow(u, i, t, ts.timestamp()) for u, i, t, ts in qs.iterator(chunk_size=20_000) if u in users]
    results = attribute(
        exposures,
        events,
        window_s=experiment.attribution_window_s,
        variant_names=[v["name"] for v in experiment.variants],
        click_types=C.CLICK_TYPES,
        conversion_types=C.CONVERSION_TYPES,
    )
    return {
        "experiment": experiment.key,
        "status": experiment.status,
        "winner": experiment.winner or None,
        "attribution_window_s": experiment.attribution_window_s,
        "variants": [r.to_dict() for r in results],
    }
