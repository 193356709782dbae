"""The catalog's GPU prices for usage costing (registered with usage at app-ready time)."""

from __future__ import annotations

from deploy.capacity.catalog import CatalogError, load_catalog


def gpu_usd_per_hour(gpu: str) -> float | None:
    """On-demand USD per GPU-hour of ``gpu`` in the planner's catalog; None when unknown."""
    try:
        entry = load_catalog().gpus.get(gpu)
    except CatalogError:
        return None
    return entry.price.usd_per_gpu_hour if entry is not None else None
