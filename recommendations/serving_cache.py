"""Per-process serving state: loaded recommenders, catalog snapshots and per-tenant stamps.

The database reads are selectors (``recommendations.selectors``); this module decides when to
repeat them and keeps their results (and the loaded artifacts) in memory.

Invariants:

* A loaded :class:`Recommender` is keyed by ``(tenant_id, run_id)``; a run's artifact never
  changes, so an entry never goes stale. At most ``MAX_MODELS`` stay loaded (LRU).
* The catalog snapshot (known ids, active ids, titles) is keyed by the tenant's catalog stamp
  (count + max ``updated_at``); a new stamp reloads it, so a deactivated item stops being served
  within one stamp check.
* Stamps (active run, catalog stamp, running experiment) are re-read from the database when
  older than ``RECS_SERVING_STAMP_TTL_S`` seconds (setting; default 1.0; 0 = every request).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage

from recommendations.engine import Recommender
from recommendations.engine.artifact import ARRAYS, META
from recommendations.models import TrainingRun
from recommendations.selectors import (
    catalog_snapshot_rows,
    catalog_stamp,
    experiment_get_running,
    training_run_get_active,
    training_run_get_ready,
)
from tenants.models import Tenant

MAX_MODELS = 8
_lock = threading.RLock()
_models: OrderedDict[tuple[int, int], Recommender] = OrderedDict()
_catalogs: dict[int, CatalogSnapshot] = {}
_stamps: dict[int, Stamp] = {}
_local_dir = Path(tempfile.gettempdir()) / "portal-recs-artifacts"


@dataclass(frozen=True)
class RunRef:
    id: int
    version: int
    artifact_path: str
    registry_version: str


@dataclass(frozen=True)
class ExperimentRef:
    id: int
    key: str
    variants: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Stamp:
    checked_at: float
    active: RunRef | None
    catalog: str
    experiment: ExperimentRef | None


@dataclass(frozen=True)
class CatalogSnapshot:
    stamp: str
    titles: dict[str, str]  # every item of the tenant, active or not
    active: frozenset[str]


def _run_ref(run: TrainingRun) -> RunRef:
    mv = run.model_version
    reg = f"{mv.model.name}:{mv.version}" if mv is not None else ""
    return RunRef(run.pk, run.version, run.artifact_path, reg)


def stamp_for(tenant: Tenant) -> Stamp:
    ttl = float(settings.RECS_SERVING_STAMP_TTL_S)
    now = time.monotonic()
    cached = _stamps.get(tenant.pk)
    if cached is not None and now - cached.checked_at < ttl:
        return cached
    run = training_run_get_active(tenant=tenant)
    exp = experiment_get_running(tenant=tenant)
    stamp = Stamp(
        checked_at=now,
        active=_run_ref(run) if run else None,
        catalog=catalog_stamp(tenant=tenant),
        experiment=ExperimentRef(exp.pk, exp.key, tuple(exp.variants)) if exp else None,
    )
    _stamps[tenant.pk] = stamp
    return stamp


def run_ref(tenant: Tenant, run_id: int) -> RunRef | None:
    run = training_run_get_ready(tenant=tenant, run_id=run_id)
    return _run_ref(run) if run else None


def catalog_for(tenant: Tenant, stamp: Stamp) -> CatalogSnapshot:
    snap = _catalogs.get(tenant.pk)
    if snap is not None and snap.stamp == stamp.catalog:
        return snap
    titles: dict[str, str] = {}
    active: set[str] = set()
    for ext, title, is_active in catalog_snapshot_rows(tenant=tenant):
        titles[ext] = title
        if is_active:
            active.add(ext)
    snap = CatalogSnapshot(stamp.catalog, titles, frozenset(active))
    _catalogs[tenant.pk] = snap
    return snap


def _local_artifact(prefix: str) -> Path:
    """A local directory holding the artifact's files (storage path itself when on local disk)."""
    try:
        local = Path(default_storage.path(f"{prefix}/{META}")).parent
        if (local / ARRAYS).is_file():
            return local
    except NotImplementedError:
        pass
    target = _local_dir / prefix.replace("/", "__")
    if not (target / META).is_file():
        _local_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=_local_dir))
        for name in (ARRAYS, META):
            with default_storage.open(f"{prefix}/{name}", "rb") as src, (tmp / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
        try:
            tmp.rename(target)
        except OSError:  # another thread won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def recommender_for(tenant_id: int, run: RunRef) -> Recommender:
    key = (tenant_id, run.id)
    with _lock:
        rec = _models.get(key)
        if rec is not None:
            _models.move_to_end(key)
            return rec
        rec = Recommender.from_path(_local_artifact(run.artifact_path))
        _models[key] = rec
        while len(_models) > MAX_MODELS:
            _models.popitem(last=False)
        return rec


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _models.clear()
        _catalogs.clear()
        _stamps.clear()
