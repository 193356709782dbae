"""Fixtures for the recommendation engine tests: small synthetic catalogs with a known answer."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recommendations.engine import InteractionData, ItemMeta, TrainedModel, TrainParams, train

DAY = 86_400.0
N_PAIRS = 12


def pair_items() -> dict[str, ItemMeta]:
    """Items p0a/p0b, p1a/p1b, ...; even pairs are Kitchen, odd pairs Garden."""
    items = {}
    for p in range(N_PAIRS):
        cat = "Kitchen" if p % 2 == 0 else "Garden"
        for side in "ab":
            key = f"p{p}{side}"
            items[key] = ItemMeta(key, title=f"Pair {p} item {side.upper()}", category=cat, tags=(cat.lower(),))
    return items


def co_purchase_events(n_users: int = 240, seed: int = 7) -> list[tuple[str, str, str, float | None, float]]:
    """Each user buys both items of two pairs, weeks apart, and views two random items.

    In each visit the user buys one side of a pair, then the other side a minute later. Pair p is
    chosen with probability ~ 1/(p+1), so p0 is the most popular. The right answer for a buyer of
    one side of a pair is the other side.
    """
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, N_PAIRS + 1)
    probs /= probs.sum()
    events: list[tuple[str, str, str, float | None, float]] = []
    keys = sorted(pair_items())
    for u in range(n_users):
        user = f"user{u:03d}"
        pairs = rng.choice(N_PAIRS, 2, replace=False, p=probs)
        for visit, p in enumerate(pairs.tolist()):
            t = 30 * DAY + u * 3600.0 + visit * 20 * DAY
            first, second = ("a", "b") if rng.random() < 0.5 else ("b", "a")
            events.append((user, f"p{p}{first}", "purchase", None, t))
            events.append((user, f"p{p}{second}", "purchase", None, t + 60.0))
        for j in rng.choice(len(keys), 2, replace=False):
            events.append((user, keys[int(j)], "view", None, 30 * DAY + u * 3600.0 - 600.0))
    return events


@pytest.fixture(scope="session", autouse=True)
def _single_thread() -> None:
    # The test machine has 2 shared cores; keep BLAS and torch from spawning more threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


@pytest.fixture(scope="session")
def pair_data() -> InteractionData:
    return InteractionData.from_events(co_purchase_events(), items=pair_items())


@pytest.fixture(scope="session")
def pair_model(pair_data: InteractionData) -> TrainedModel:
    return train(pair_data, TrainParams())
