"""Evaluate the guardrails on ``bench/data/guardrails_labelled.jsonl``.

Prints injection recall (detection rate on injection lines) and false-positive rate (on the
other lines), then PII precision/recall per kind and overall. A PII prediction is a true positive
when kind, start and end all match a gold span exactly; anything else counts as a false positive
(and the gold span, if any, as a false negative). Also lists every miss, so regressions are easy
to read.

Caveat: the labelled lines were written by the same author as the detectors, so these numbers
are an optimistic, in-distribution estimate; treat them as a regression guard.

Usage: python bench/guardrails_eval.py [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.guardrails.injection import detect_injection
from qa.guardrails.pii import PII_KINDS, find_pii

DATA = Path(__file__).with_name("data") / "guardrails_labelled.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]

    tp_inj = fn_inj = fp_inj = tn_inj = 0
    per_lang: Counter[tuple[str, str]] = Counter()
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses: list[str] = []
    t0 = time.perf_counter()
    for row in rows:
        text = row["text"]
        found = detect_injection(text) is not None
        if row["injection"]:
            per_lang[(row["lang"], "pos")] += 1
            if found:
                tp_inj += 1
                per_lang[(row["lang"], "hit")] += 1
            else:
                fn_inj += 1
                misses.append(f"INJ-MISS {row['id']}: {text[:100]}")
        else:
            per_lang[(row["lang"], "neg")] += 1
            if found:
                fp_inj += 1
                per_lang[(row["lang"], "fp")] += 1
                misses.append(f"INJ-FP   {row['id']}: {text[:100]}")
            else:
                tn_inj += 1

        gold = {(s["kind"], s["start"], s["end"]) for s in row["pii"]}
        pred = {(f.kind, f.start, f.end) for f in find_pii(text)}
        for k, _s, _e in pred & gold:
            tp[k] += 1
        for k, s, e in pred - gold:
            fp[k] += 1
            misses.append(f"PII-FP   {row['id']} {k}: {text[s:e]!r}")
        for k, s, e in gold - pred:
            fn[k] += 1
            misses.append(f"PII-MISS {row['id']} {k}: {text[s:e]!r}")
    elapsed = (time.perf_counter() - t0) * 1000

    n_pos, n_neg = tp_inj + fn_inj, fp_inj + tn_inj
    print(f"rows={len(rows)} (injection lines {n_pos}, other lines {n_neg}); scan time {elapsed:.0f} ms total")
    print(f"injection detection rate (recall): {tp_inj}/{n_pos} = {tp_inj / n_pos:.1%}")
    print(f"injection false-positive rate:     {fp_inj}/{n_neg} = {fp_inj / n_neg:.1%}")
    for lang in sorted({k[0] for k in per_lang}):
        pos, hit, neg, fpl = (per_lang[(lang, x)] for x in ("pos", "hit", "neg", "fp"))
        print(f"  {lang}: recall {hit}/{pos}, false positives {fpl}/{neg}")
    print("PII (exact span + kind):")
    print(f"  {'kind':<12} {'gold':>5} {'pred':>5} {'prec':>7} {'recall':>7}")
    for kind in [*sorted(PII_KINDS), "overall"]:
        if kind == "overall":
            t, f, n = sum(tp.values()), sum(fp.values()), sum(fn.values())
        else:
            t, f, n = tp[kind], fp[kind], fn[kind]
        prec = t / (t + f) if t + f else float("nan")
        rec = t / (t + n) if t + n else float("nan")
        print(f"  {kind:<12} {t + n:>5} {t + f:>5} {prec:>7.1%} {rec:>7.1%}")
    if args.verbose or misses:
        print("misses:")
        for m in misses:
            print("  " + m)


if __name__ == "__main__":
    main()
