"""What higher layers tell usage at app-ready time (usage never imports them).

- ``register_gpu_price``: a function GPU name -> USD per GPU-hour (deploy registers the capacity
  planner's catalog), so inference seconds are priced from the same catalog that plans capacity.
- ``register_storage``: a function tenant -> {"documents", "bytes", "vectors"} (documents
  registers one), so storage is measured from the tables that hold it, never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GpuPrice = Callable[[str], float | None]
StorageProvider = Callable[[Any], dict[str, int]]

_GPU_PRICES: list[GpuPrice] = []
_STORAGE: list[StorageProvider] = []


def register_gpu_price(provider: GpuPrice) -> None:
    if provider not in _GPU_PRICES:
        _GPU_PRICES.append(provider)


def register_storage(provider: StorageProvider) -> None:
    if provider not in _STORAGE:
        _STORAGE.append(provider)


def gpu_usd_per_hour(gpu: str) -> float | None:
    for provider in _GPU_PRICES:
        price = provider(gpu)
        if price is not None:
            return float(price)
    return None


def storage_of(tenant: Any) -> dict[str, int]:
    """Sum of every provider's figures (one per app that stores tenant data)."""
    total = {"documents": 0, "bytes": 0, "vectors": 0}
    for provider in _STORAGE:
        for key, value in provider(tenant).items():
            total[key] = total.get(key, 0) + int(value)
    return total
