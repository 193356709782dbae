"""Small instruct LLMs shipped as GGUF inside PyPI wheels, run with transformers on CPU.

Per model: load time, RSS after load and peak, prefill + decode speed for a ~600-token prompt
with 60 new tokens (median of 3), and answer quality on 10 dev questions given the right page
(pypdfium2 text, a ~2,400-character window around the evidence): does the answer contain the
key fact?

GGUF files are given as paths (assembled from the chunk packages, see docs/notes-models.md):

    python bench/experiments/llm_bench.py --threads 2 \
        --model smollm2-135m=/path/SmolLM2-135M-Instruct.Q4_1.gguf --model qwen-coder-1.5b=/path/q.gguf
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DOCS, dev_rows, load_avg, norm, page_texts, peak_rss_mb, rss_mb

QUESTIONS = [
    "dev-001",
    "dev-003",
    "dev-004",
    "dev-005",
    "dev-007",
    "dev-008",
    "dev-009",
    "dev-013",
    "dev-016",
    "dev-022",
]
SYSTEM = (
    "You answer questions about a document. Use only the context. Answer in one short sentence that states "
    "the fact asked for (number, date, name). If the context does not say, answer: not stated."
)
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "fifty", "thirteen"}
STOP = {"the", "a", "an", "of", "in", "on", "to", "and", "or", "for", "by", "with", "up", "is", "at", "no"}


def context_for(row: dict, chars: int = 2400) -> str:
    text = " ".join(page_texts(DOCS / row["doc"])[row["pages"][0] - 1].split())
    ev = row["evidence"].split()[0:4]
    pos = text.lower().find(" ".join(ev).lower())
    if pos < 0:
        pos = 0
    start = max(0, min(pos - chars // 2, len(text) - chars))
    return text[start : start + chars]


def key_fact_ok(answer: str, expected: str) -> bool:
    """Every number (digits or number word) of the expected answer, minus any parenthesised gloss,
    is in the answer; without numbers, at least half of its content words are."""
    main = expected.split("(")[0]
    a = norm(answer.replace(",", ""))
    nums = re.findall(r"\d+(?:\.\d+)*", main.replace(",", "")) + [w for w in norm(main).split() if w in NUMBER_WORDS]
    if nums:
        return all(re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", a) for n in nums)
    words = [w for w in norm(main).split() if w not in STOP]
    hit = sum(1 for w in words if w in a.split())
    return hit >= max(1, (len(words) + 1) // 2)


def generate(
    model, tok, question: str, context: str, budget: int, ignore_eos: bool = False
) -> tuple[str, int, float, float]:  # type: ignore[no-untyped-def]
    """Greedy decoding with the KV cache, as the Triton smollm2 builtin does."""
    import torch

    msgs = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    eos = model.generation_config.eos_token_id
    eos_set = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
    with torch.inference_mode():
        t = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        prefill = time.perf_counter() - t
        past, nxt, gen = out.past_key_values, int(out.logits[0, -1].argmax()), []
        t = time.perf_counter()
        for _ in range(budget):
            if nxt in eos_set and not ignore_eos:
                break
            gen.append(nxt)
            out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, int(out.logits[0, -1].argmax())
        decode = time.perf_counter() - t
    return tok.decode(gen, skip_special_tokens=True).strip(), int(ids.shape[1]), prefill, decode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[], help="name=path.gguf")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--speed-only", action="store_true", help="skip the 10 quality questions")
    ap.add_argument("--int8", action="store_true", help="torch dynamic int8 quantisation of the Linear layers")
    ap.add_argument("--rescore", type=Path, default=None, help="re-judge the answers of an --out file and exit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=60)
    ap.add_argument("--out", type=Path, default=None, help="write answers as JSON lines here")
    args = ap.parse_args()

    rows = {r["id"]: r for r in dev_rows()}
    if args.rescore:
        totals: dict[str, list[int]] = {}
        for line in args.rescore.read_text(encoding="utf-8").splitlines():
            a = json.loads(line)
            totals.setdefault(a["model"], []).append(key_fact_ok(a["answer"], rows[a["id"]]["answer"]))
        for name, oks in totals.items():
            print(f"{name}: key fact {sum(oks)}/{len(oks)}")
        return

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    cases = [(rows[q], context_for(rows[q])) for q in QUESTIONS]
    out = args.out.open("a", encoding="utf-8") if args.out else None

    for spec in args.model:
        name, path = spec.split("=", 1)
        gguf = Path(path)
        base_rss = rss_mb()
        t0 = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=getattr(torch, args.dtype)
        )
        model.eval()
        if args.int8:
            # int8 weights: decoding on CPU is bound by reading the weights, 4x fewer bytes than fp32
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            name += "+int8"
        if args.dtype != "float32":
            name += f"+{args.dtype}"
        load_s = time.perf_counter() - t0
        loaded_rss = rss_mb()

        # speed on the longest prompt (~600 tokens) with exactly --new-tokens decoded (EOS ignored)
        row, ctx = max(cases, key=lambda c: len(c[1]))
        speeds = []
        for _ in range(3):
            text, n_prompt, prefill, decode = generate(model, tok, row["question"], ctx, args.new_tokens, True)
            n_new = args.new_tokens
            speeds.append((prefill, decode, n_prompt, n_new))
        speeds.sort(key=lambda s: s[0] + s[1])
        prefill, decode, n_prompt, n_new = speeds[1]
        ok = 0
        answers = []
        t_all = time.perf_counter()
        for row, ctx in [] if args.speed_only else cases:
            text, _, _, _ = generate(model, tok, row["question"], ctx, args.new_tokens)
            good = key_fact_ok(text, row["answer"])
            ok += good
            answers.append((row["id"], good, text))
            if out:
                out.write(json.dumps({"model": name, "id": row["id"], "ok": good, "answer": text}) + "\n")
        per_q = (time.perf_counter() - t_all) / (1 if args.speed_only else len(cases))
        print(
            f"== {name}: load {load_s:.1f}s, RSS +{loaded_rss - base_rss:.0f} MB after load, peak {peak_rss_mb():.0f} MB;"
            f" prompt {n_prompt} tok prefill {prefill:.2f}s ({n_prompt / prefill:.0f} tok/s),"
            f" decode {n_new} tok in {decode:.2f}s ({n_new / max(decode, 1e-9):.1f} tok/s);"
            f" key fact {ok}/{len(cases)}; {per_q:.1f}s/question; load avg {load_avg()}"
        )
        for qid, good, text in answers:
            print(f"   {qid} {'OK ' if good else 'BAD'} {text[:160]!r}")
        sys.stdout.flush()
        del model, tok


if __name__ == "__main__":
    main()
