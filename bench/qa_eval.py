"""Cited Q&A quality on the held-out set ``bench/data/qa_eval/`` through the real product path.

    python bench/qa_eval.py [--split test|tune] [--generative-limit N] [--verbose] [--dump FILE]

All 19 files of ``shared/data/docs/good`` are uploaded and ingested once with the real services
(``document_upload`` + ``document_ingest``: extraction, chunking, the embedded embedder, Milvus
Lite) into a throw-away bench tenant (temporary directory; nothing is cached in the repository).
Then, for every question of the chosen half (``test`` by default: report figures on it only;
``tune`` is for choosing thresholds), three answerers are scored with ``bench/qa_eval_lib.py``:

- **old**: the extractive answerer as it was before issue 11 (``bench/answer_extractive_v1.py``)
  on the chunks the product retrieved for the question, citations validated as the product does;
  latency = the product's retrieval time + this answerer's time;
- **new**: the product's Q&A service (``qa_prepare`` + ``qa_answer`` rendered by the API's
  ``QaAnswerSerializer``), embedded default (no LLM); latency = the trace's server-side total;
- **generative**: the same service with the embedded generative default (SmolLM2-135M served by
  a local tritonserver, as ``bench/qa_llm_citations.py`` does) on the first ``N`` questions of
  the half (``--generative-limit``, 0 skips it; on this 2-core machine an answer takes seconds).
  Its table says N; compare it with the extractive rows of the same N questions printed beside it.

Printed per answerer: answer correctness, right document, right page, abstention precision and
recall, latency p50/p95; then per tag (table, multicolumn, docx, non-English, near-miss ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer_extractive_v1 import answer_extractive_v1
from qa_common import DATA, bench_tenant, setup_django, start_milvus
from qa_eval_lib import aggregate, aggregate_by, load_questions, score_row

TAGS = (
    "table",
    "multicolumn",
    "docx",
    "non_english_doc",
    "question_in_german",
    "near_miss",
    "footnote",
    "ocr",
    "txt",
    "fixed_width",
    "form",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("test", "tune"), default="test")
    ap.add_argument(
        "--questions",
        type=Path,
        help="score another question file in the same row format instead of a half of the held-out set "
        "(e.g. ../shared/data/qa/dev.jsonl, a second tuning set; --split is then ignored)",
    )
    ap.add_argument(
        "--top-k", type=int, default=None, help="passages to answer from (default: the product's QA_DEFAULT_TOP_K)"
    )
    ap.add_argument("--generative-limit", type=int, default=0, help="questions for the generative answerer")
    ap.add_argument("--max-tokens", type=int, default=96, help="generative answer length")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--dump", type=Path, help="write every answer and score as JSON lines")
    ap.add_argument(
        "--workdir",
        type=Path,
        help="keep the database and Milvus Lite files here (outside the repository) and reuse an "
        "ingestion made by an earlier run with the same --workdir; default: a fresh temporary directory",
    )
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = _workdir(stack, args.workdir)
        env: dict[str, str] = {}
        if args.generative_limit > 0:
            env = _start_triton(stack, tmp, args.max_tokens)
        setup_django(tmp, **env)
        start_milvus(stack, tmp)
        run(args)


def _workdir(stack: contextlib.ExitStack, path: Path | None) -> Path:
    if path is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-eval-")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def eval_workdir(stack: contextlib.ExitStack, path: Path | None, **env: str) -> Path:
    """The eval's work directory (``--workdir``, else a temporary one) with Django set up on it and
    its Milvus Lite server started: what every script that reuses this eval's ingestion needs."""
    tmp = _workdir(stack, path)
    setup_django(tmp, **env)
    start_milvus(stack, tmp)
    return tmp


def tenant_and_docs() -> tuple[Any, Any, dict[str, int]]:
    """The bench tenant's owner actor and its ingested documents (ingested now if this work
    directory has none yet)."""
    from documents.models import Document
    from tenants.actors import Actor
    from tenants.models import Membership, Tenant

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is None:
        tenant, _membership, actor = bench_tenant()
        return tenant, actor, _ingest(tenant, actor)
    membership = Membership.objects.for_tenant(tenant).select_related("user").first()
    actor = Actor.for_user(membership.user, membership)
    docs = {f"good/{d.filename}": d.pk for d in Document.objects.for_tenant(tenant)}
    print(f"reusing {len(docs)} ingested documents", flush=True)
    return tenant, actor, docs


def _start_triton(stack: contextlib.ExitStack, tmp: Path, max_tokens: int) -> dict[str, str]:
    """A local tritonserver with the embedded generative default (SmolLM2-135M builtin)."""
    from inference.triton.builtin import MINILM_NAME, install_minilm
    from inference.triton.builtin.smollm2 import SMOLLM2_NAME, install_smollm2
    from inference.triton.client import TritonAdmin
    from inference.triton.server import TritonServer
    from tests.support.milvus import free_port

    repo = tmp / "repo"
    install_minilm(repo, version=1)
    install_smollm2(repo)
    server = TritonServer(
        repo,
        workdir=tmp / "work",
        http_port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
        python_executable=sys.executable,
        exit_timeout_s=1,
    )
    server.start()
    stack.callback(server.stop)
    server.wait_ready(180)
    admin = TritonAdmin(server.http_url, timeout_s=300)
    stack.callback(admin.close)
    for name in (MINILM_NAME, SMOLLM2_NAME):
        admin.load_model(name)
    # Triton is switched on per generative question (settings.TRITON_URL, TRITON_LLM_MODEL);
    # the query is then embedded by the same MiniLM served by Triton. Extractive answers keep
    # the embedded in-process default.
    return {
        "TRITON_EMBED_MODEL": MINILM_NAME,
        "QA_EVAL_TRITON_URL": server.grpc_url,
        "QA_LLM_MAX_TOKENS": str(max_tokens),
        "TRITON_LLM_TIMEOUT_S": "300",
        "QA_EVAL_LLM_NAME": SMOLLM2_NAME,
    }


def _ingest(tenant: Any, actor: Any) -> dict[str, int]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.models import Chunk, Document
    from documents.services import document_ingest, document_upload

    t0 = time.perf_counter()
    docs: dict[str, int] = {}
    for path in sorted((DATA / "docs" / "good").iterdir()):
        doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(path.name, path.read_bytes()))
        doc = document_ingest(tenant=tenant, document_id=doc.pk, lease_id=f"bench-{doc.pk}")
        assert doc is not None
        if doc.status != Document.Status.READY:
            print(f"  {path.name}: {doc.status} {doc.error}")
        docs[f"good/{path.name}"] = doc.pk
    n_chunks = Chunk.objects.for_tenant(tenant).count()
    print(f"ingested {len(docs)} files -> {n_chunks} chunks in {time.perf_counter() - t0:.1f} s", flush=True)
    return docs


def _old_answer(trace: Any) -> tuple[dict[str, Any], float]:
    """The pre-issue-11 extractive answer on the product's retrieved chunks, validated as the
    product validates, rendered like the API."""
    from qa.answering.citations import validate_citations

    t0 = time.perf_counter()
    chunks = trace.chunks
    found, text, cits = False, "", []
    if chunks:
        ans = answer_extractive_v1(trace.question, chunks)
        if ans.found:
            texts = {c.chunk_id: c.text for c in chunks}
            v = validate_citations(ans.text, ans.citations, set(texts), chunk_texts=texts)
            text, cits, found = v.text, v.citations, bool(v.citations)
    ms = (time.perf_counter() - t0) * 1000 + trace.retrieve_ms
    body = {
        "answer": text,
        "found": found,
        "citations": [
            {"document_id": c.document_id, "document_title": c.document_title, "page": c.page, "quote": c.quote}
            for c in cits
        ],
    }
    return body, ms


def run(args: argparse.Namespace) -> None:
    import os

    from django.conf import settings

    from qa.api.serializers import QaAnswerSerializer
    from qa.services.ask import qa_answer, qa_prepare

    tenant, actor, docs = tenant_and_docs()
    rows = _rows(args)
    llm_name = os.environ.get("QA_EVAL_LLM_NAME", "")
    gen_n = min(args.generative_limit, len(rows)) if llm_name else 0
    scores: dict[str, list[Any]] = {"old": [], "new": [], "generative": []}
    dump = args.dump.open("w", encoding="utf-8") if args.dump else None
    for i, row in enumerate(rows):
        settings.TRITON_URL, settings.TRITON_LLM_MODEL = "", ""
        trace = qa_answer(qa_prepare(tenant=tenant, actor=actor, question=row["question"], top_k=args.top_k))
        new = dict(QaAnswerSerializer(trace).data)
        scores["new"].append(score_row(row, new, doc_ids=docs, latency_ms=trace.total_ms))
        old, old_ms = _old_answer(trace)
        scores["old"].append(score_row(row, old, doc_ids=docs, latency_ms=old_ms))
        out = {"id": row["id"], "question": row["question"], "expected": row["answer"], "new": new, "old": old}
        if i < gen_n:
            settings.TRITON_URL, settings.TRITON_LLM_MODEL = os.environ["QA_EVAL_TRITON_URL"], llm_name
            gtrace = qa_answer(qa_prepare(tenant=tenant, actor=actor, question=row["question"], top_k=args.top_k))
            gen = dict(QaAnswerSerializer(gtrace).data)
            scores["generative"].append(score_row(row, gen, doc_ids=docs, latency_ms=gtrace.total_ms))
            out["generative"] = gen
            out["generative_model"] = gtrace.model
        if args.verbose:
            s = scores["new"][-1]
            flag = "ok " if (s.answer_correct or (not s.answerable and s.abstained)) else "BAD"
            print(
                f"{flag} {row['id']} [{','.join(row.get('tags', []))}] {row['question']}  (expected {row['answer']!r})"
            )
            print(f"     new: {' '.join(new['answer'].split())[:220]}")
        if dump:
            dump.write(json.dumps(out, default=str) + "\n")
    if dump:
        dump.close()

    n_ans = sum(r["answerable"] for r in rows)
    print(
        f"\n{'questions=' + str(args.questions) if args.questions else 'split=' + args.split}: {len(rows)} questions ({n_ans} answerable, {len(rows) - n_ans} unanswerable)"
    )
    print(_table({k: aggregate(v) for k, v in scores.items() if v}, gen_n, len(rows)))
    if gen_n:
        same = {"old": scores["old"][:gen_n], "new": scores["new"][:gen_n], "generative": scores["generative"]}
        print(f"\nsame {gen_n} questions for all three (first {gen_n} of the {args.split} half):")
        print(_table({k: aggregate(v) for k, v in same.items()}, gen_n, gen_n))
    for name in ("old", "new"):
        by = aggregate_by(scores[name], lambda s: [t for t in s.tags if t in TAGS])
        print(f"\nper tag, {name}:")
        print(_table(by, 0, 0, first="tag"))


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.questions is None:
        return load_questions(split=args.split)
    rows = load_questions(args.questions)
    for r in rows:
        r.setdefault("tags", [])
    return rows


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.1%}"


def _table(aggs: dict[str, dict[str, Any]], gen_n: int, n_rows: int, *, first: str = "answerer") -> str:
    head = (
        f"| {first:19s} |   n | correct | right doc | right page | abst. P | abst. R | p50 ms | p95 ms |\n"
        f"|{'-' * 21}|----:|--------:|----------:|-----------:|--------:|--------:|-------:|-------:|"
    )
    lines = [head]
    for name, a in aggs.items():
        c = a["counts"]
        label = f"{name} (N={gen_n})" if name == "generative" and gen_n != n_rows else name
        p50 = a["latency_p50_ms"] or 0.0
        p95 = a["latency_p95_ms"] or 0.0
        lines.append(
            f"| {label:19s} | {c['questions']:3d} | {_pct(a['answer_correct'])}  |   {_pct(a['right_doc'])}  |"
            f"    {_pct(a['right_page'])}  | {_pct(a['abstention_precision'])}  | {_pct(a['abstention_recall'])}  |"
            f" {p50:6.0f} | {p95:6.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
