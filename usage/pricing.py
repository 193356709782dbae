"""Unit prices (USD): operator settings, and GPU-seconds from the capacity planner's catalog."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from usage import registry

GB = 1024**3
# A fallback when neither settings nor a catalog price the GPU: an L4's on-demand hour.
FALLBACK_GPU_USD_PER_HOUR = 0.8048


@dataclass(frozen=True)
class Prices:
    units: dict[str, float]  # "<feature>.<metric>" -> USD per unit
    gpu: str
    gpu_second_usd: float
    gpu_source: str  # "settings" | "catalog" | "fallback"

    def unit(self, feature: str, metric: str) -> float:
        if metric == "inference_ms" or (feature == "training" and metric == "seconds"):
            per_second = self.units.get(f"{feature}.{metric}", self.gpu_second_usd)
            return per_second / 1000 if metric == "inference_ms" else per_second
        return float(self.units.get(f"{feature}.{metric}", 0.0))


def current_prices() -> Prices:
    units = {k: float(v) for k, v in settings.USAGE_PRICES.items()}
    gpu = str(settings.USAGE_SERVING_GPU)
    if "gpu_second" in units:
        return Prices(units, gpu, units["gpu_second"], "settings")
    per_hour = registry.gpu_usd_per_hour(gpu)
    if per_hour is not None:
        return Prices(units, gpu, per_hour / 3600, "catalog")
    return Prices(units, gpu, FALLBACK_GPU_USD_PER_HOUR / 3600, "fallback")
