"""Assign every row of ``questions.jsonl`` to the ``tune`` or the ``test`` half, once.

    python bench/data/qa_eval/make_split.py

Stratified by (document, answerable): inside each stratum the rows are shuffled with a
stratum-specific ``random.Random`` seeded from ``SEED`` and dealt to whichever half of that
stratum is smaller (an odd row goes to the half that is smaller overall), so each document's
answerable and unanswerable questions are split about 50/50. Rows sharing a ``group`` (the same
fact asked in German and in English) are dealt together so they never straddle the halves.

The result was committed once. The script refuses to run when any row already has a split:
re-splitting after thresholds were tuned would leak test questions into tuning.
"""

from __future__ import annotations

import collections
import json
import random
import sys
from pathlib import Path

SEED = 20251111
QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"


def assign(rows: list[dict], seed: int = SEED) -> dict[str, str]:
    """Map row id -> "tune" | "test"; deterministic for a given seed and row set."""
    strata: dict[tuple[str, bool], list[list[dict]]] = collections.defaultdict(list)
    units: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        key = r.get("group") or r["id"]
        if key not in units:
            units[key] = []
            strata[(r["doc"], r["answerable"])].append(units[key])
        units[key].append(r)
    totals = {"tune": 0, "test": 0}
    split: dict[str, str] = {}
    for (doc, answerable), stratum_units in sorted(strata.items()):
        rng = random.Random(f"{seed}:{doc}:{answerable}")
        rng.shuffle(stratum_units)
        local = {"tune": 0, "test": 0}
        for unit in stratum_units:
            if local["tune"] != local["test"]:
                half = min(local, key=local.__getitem__)
            elif totals["tune"] != totals["test"]:
                half = min(totals, key=totals.__getitem__)
            else:
                half = rng.choice(["tune", "test"])
            for r in unit:
                split[r["id"]] = half
            local[half] += len(unit)
            totals[half] += len(unit)
    return split


def main() -> None:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any("split" in r for r in rows):
        sys.exit("questions.jsonl is already split; the split is fixed (see the module docstring)")
    split = assign(rows)
    with QUESTIONS.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, "split": split[r["id"]]}, ensure_ascii=False) + "\n")
    print(collections.Counter((r["answerable"], split[r["id"]]) for r in rows))


if __name__ == "__main__":
    main()
