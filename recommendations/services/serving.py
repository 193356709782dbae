"""Serving: one recommendation request -> items with reasons, plus the experiment exposure.

Per request (steady state): one indexed query for the user's last HISTORY_LIMIT events, an
in-memory engine call, and, inside a running experiment, one INSERT of the exposure. The
active version, catalog snapshot and running experiment come from serving_cache (re-checked
every RECS_SERVING_STAMP_TTL_S seconds).

Decision on foreign item ids: an item id in ``context`` or ``filters`` that is not in this
tenant's catalog (whether it exists in another tenant or nowhere) is refused with a 400 listing
the ids the client sent; the answer is the same in both cases, so nothing leaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from portal.context import current_request
from portal.exceptions import ApplicationError, Conflict
from recommendations import constants as C
from recommendations import serving_cache
from recommendations.abtest import bucket
from recommendations.models import Exposure
from recommendations.selectors import user_history
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from usage import meter
from usage.services import quota_check


@dataclass
class ServedItem:
    item_id: str
    title: str
    score: float
    reasons: list[str]


@dataclass
class ServedRecommendations:
    items: list[ServedItem]
    model_version: dict[str, Any] | None
    experiment: dict[str, str] | None
    request_id: str
    cold_start: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [vars(i) for i in self.items],
            "model_version": self.model_version,
            "experiment": self.experiment,
            "request_id": self.request_id,
            "cold_start": self.cold_start,
        }


def _check_known(ids: Sequence[str], known: dict[str, str], where: str) -> None:
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = ", ".join(f"'{i[:80]}'" for i in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise ApplicationError(
            f"Unknown item ids in {where}: {shown}{more} (not in this tenant's catalog).",
            extra={"unknown_item_ids": unknown[:100]},
        )


def recommendation_serve(
    *,
    tenant: Tenant,
    actor: Actor,
    user_id: str,
    k: int,
    context_item_id: str | None = None,
    session_item_ids: Sequence[str] = (),
    category: str | None = None,
    exclude_item_ids: Sequence[str] = (),
    exclude_seen: bool = True,
    record_exposure: bool = True,
) -> ServedRecommendations:
    """Top-``k`` active items for ``user_id`` with reasons; unknown users get cold-start results.

    Raises ApplicationError (400) for k outside 1..MAX_K or item ids outside this tenant's
    catalog, Conflict (409) when the tenant has no active recommender. Not audited (a read);
    inside a running experiment it records one Exposure (unless ``record_exposure`` is False,
    as for the console's "try it" panel, whose views are not real traffic).
    """
    access_require(tenant=tenant, actor=actor, capability="recs.query")
    if record_exposure:  # real traffic (the console's "try it" panel is neither limited nor billed)
        quota_check(tenant=tenant, feature="recommendations")
    if isinstance(k, bool) or not isinstance(k, int) or not C.MIN_K <= k <= C.MAX_K:
        raise ApplicationError(f"k must be between {C.MIN_K} and {C.MAX_K}, got {k!r}.")
    stamp = serving_cache.stamp_for(tenant)
    catalog = serving_cache.catalog_for(tenant, stamp)
    if context_item_id:
        _check_known([context_item_id], catalog.titles, "context.item_id")
    _check_known(list(session_item_ids), catalog.titles, "context.session_item_ids")
    _check_known(list(exclude_item_ids), catalog.titles, "filters.exclude_item_ids")

    run = stamp.active
    strategy = None
    experiment = None
    if stamp.experiment is not None:
        exp = stamp.experiment
        name = bucket(exp.key, user_id, exp.variants)
        variant = next(v for v in exp.variants if v["name"] == name)
        experiment = {"key": exp.key, "variant": name}
        if variant.get("run_id"):
            run = serving_cache.run_ref(tenant, int(variant["run_id"])) or run
        strategy = variant.get("strategy")
    if run is None:
        raise Conflict("No recommender is active for this tenant yet: train one (POST /api/v1/recommenders/).")
    recommender = serving_cache.recommender_for(tenant.pk, run)

    history = user_history(tenant=tenant, user_id=user_id, limit=C.HISTORY_LIMIT)
    excluded = set(exclude_item_ids)
    if strategy == C.STRATEGY_POPULARITY:
        # Popularity ignores the user's history for ranking but still hides what they have seen.
        if exclude_seen:
            excluded.update(h[0] for h in history)
            excluded.update(session_item_ids)
        recs = recommender.recommend(
            user_history=[],
            k=k,
            category=category,
            exclude_items=excluded,
            exclude_seen=False,
            active_items=catalog.active,
        )
    else:
        recs = recommender.recommend(
            user_history=history,
            k=k,
            context_item=context_item_id or None,
            session_items=list(session_item_ids),
            category=category,
            exclude_items=excluded,
            exclude_seen=exclude_seen,
            active_items=catalog.active,
        )
    request_id = current_request.get().request_id or uuid.uuid4().hex
    items = [
        ServedItem(r.item_key, catalog.titles.get(r.item_key, r.item_key), round(r.score, 6), r.reasons) for r in recs
    ]
    if record_exposure and stamp.experiment is not None and experiment is not None:
        Exposure.objects.create(
            tenant=tenant,
            experiment_id=stamp.experiment.id,
            variant=experiment["variant"],
            user_id=user_id,
            request_id=request_id[:64],
            item_ids=[i.item_id for i in items],
        )
    if record_exposure:
        meter.record(
            tenant.pk,
            "recommendations",
            token_id=actor.token.pk if actor.token is not None else None,
            model=f"recommender-v{run.version}",
            requests=1,
        )
    return ServedRecommendations(
        items=items,
        model_version={
            "id": run.id,
            "version": run.version,
            "registry": run.registry_version,
            "strategy": strategy or "model",
        },
        experiment=experiment,
        request_id=request_id,
        cold_start=not history and not session_item_ids and not context_item_id,
    )
