"""In-process latency of Recommender.recommend() at 10,000 items x 1,000,000 events.

Synthetic data: 100,000 users in 100 taste clusters; item popularity follows a power law
(Zipf exponent 1.1) both globally and inside each cluster; 70 % of a user's events fall in their
cluster. Event mix: 60 % view, 20 % click, 10 % add_to_cart, 10 % purchase over 90 days.

Reports data build time, training time (with validation and weight search), artifact size and
load time, then p50/p95/p99 of recommend() for several request shapes (warm, single thread).
Run: ``python bench/recs_engine_latency.py [--items 10000] [--events 1000000] [--requests 2000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Before numpy is imported: one BLAS thread (2 shared cores).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommendations.engine import (  # noqa: E402
    InteractionData,
    ItemMeta,
    Recommender,
    TrainParams,
    load_artifact,
    save_artifact,
    train,
)
from recommendations.engine.data import EVENT_TYPES  # noqa: E402

DAY = 86_400.0


def synthetic(n_items: int, n_events: int, seed: int = 0) -> InteractionData:
    rng = np.random.default_rng(seed)
    n_users = max(n_events // 10, 1)
    n_clusters = 100
    item_cluster = rng.integers(0, n_clusters, n_items)
    global_p = 1.0 / np.arange(1, n_items + 1) ** 1.1
    global_p /= global_p.sum()
    global_rank = rng.permutation(n_items)  # item at popularity rank r
    user_cluster = rng.integers(0, n_clusters, n_users)
    users = np.sort(rng.integers(0, n_users, n_events))
    items = global_rank[rng.choice(n_items, n_events, p=global_p)]
    in_cluster = rng.random(n_events) < 0.7
    members = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    for c in range(n_clusters):
        sel = np.flatnonzero(in_cluster & (user_cluster[users] == c))
        if sel.size and members[c].size:
            p = 1.0 / np.arange(1, members[c].size + 1) ** 1.1
            items[sel] = members[c][rng.choice(members[c].size, sel.size, p=p / p.sum())]
    types = np.array(EVENT_TYPES[:4])[rng.choice(4, n_events, p=[0.6, 0.2, 0.1, 0.1])]
    ts = rng.uniform(0, 90 * DAY, n_events)
    catalog = [
        ItemMeta(f"i{j}", title=f"Item {j}", category=f"Category {item_cluster[j] % 20}") for j in range(n_items)
    ]
    return InteractionData.from_arrays(
        user_keys=np.char.add("u", users.astype(str)),
        item_keys=np.char.add("i", items.astype(str)),
        event_types=types,
        timestamps=ts,
        items=catalog,
    )


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"{p50:.3f} | {p95:.3f} | {p99:.3f} | {ms.max():.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()

    t = time.perf_counter()
    data = synthetic(args.items, args.events)
    build_s = time.perf_counter() - t
    print(f"data: {data.n_users} users, {data.n_items} items, {data.n_events} events; built in {build_s:.1f}s")

    t = time.perf_counter()
    model = train(data, TrainParams())
    train_s = time.perf_counter() - t
    print(f"train: {train_s:.1f}s total; phases " + ", ".join(f"{k}={v:.1f}s" for k, v in model.timing.items()))
    print(f"blend weights: {model.state.blend_weights}")
    print(f"validation: {model.metrics['blend']}")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = save_artifact(model, Path(tmp) / "artifact")
        save_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in path.iterdir())
        t = time.perf_counter()
        loaded = load_artifact(path)
        rec = Recommender(loaded)
        load_s = time.perf_counter() - t
    print(
        f"artifact: {size / 1e6:.1f} MB (collab nnz {loaded.state.collab.nnz}); "
        f"save {save_s:.2f}s, load + Recommender init {load_s:.2f}s"
    )

    rng = np.random.default_rng(1)
    order = np.argsort(data.user_idx, kind="stable")
    bounds = np.searchsorted(data.user_idx[order], np.arange(data.n_users + 1))
    keys = data.item_keys.tolist()

    def history(user: int, n: int = 50) -> list[tuple[str, str, float]]:
        ev = order[bounds[user] : bounds[user + 1]][-n:]
        return [(keys[data.item_idx[e]], EVENT_TYPES[data.event_code[e]], float(data.timestamp[e])) for e in ev]

    heavy = np.flatnonzero(np.diff(bounds) >= 20)
    users = rng.choice(heavy, args.requests)
    histories = [history(int(u)) for u in users]
    # Synthetic users have ~10 events; glue 25 heavy users together for 500-event histories.
    long_histories = [[event for u in rng.choice(heavy, 25) for event in history(int(u))] for _ in range(args.requests)]
    active = set(rng.choice(keys, int(0.9 * len(keys)), replace=False).tolist())
    shapes = {
        "history (20-50 events), k=10": lambda h: rec.recommend(user_history=h, k=10),
        "history, k=100": lambda h: rec.recommend(user_history=h, k=100),
        "history + context item + 3 session items": lambda h: rec.recommend(
            user_history=h, k=10, context_item=h[0][0], session_items=[x[0] for x in h[:3]]
        ),
        "history + category filter": lambda h: rec.recommend(user_history=h, k=10, category="Category 3"),
        "history + active_items (90% of catalog)": lambda h: rec.recommend(user_history=h, k=10, active_items=active),
        "cold start (empty history), k=10": lambda h: rec.recommend(user_history=[], k=10),
    }
    long_shape = {"history (~500 events), k=10": lambda h: rec.recommend(user_history=h, k=10)}
    print(f"\nrecommend() latency over {args.requests} requests each (ms, in-process, warm):\n")
    print("| request | p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|")
    runs = [(name, fn, histories) for name, fn in shapes.items()]
    runs += [(name, fn, long_histories) for name, fn in long_shape.items()]
    for name, fn, inputs in runs:
        for h in inputs[:50]:
            fn(h)
        lat = []
        for h in inputs:
            t = time.perf_counter()
            fn(h)
            lat.append(time.perf_counter() - t)
        print(f"| {name} | {percentiles(lat)} |")
    sample = rec.recommend(user_history=histories[0], k=3)
    print("\nexample:", [(r.item_key, round(r.score, 4), r.reasons) for r in sample])


if __name__ == "__main__":
    main()
