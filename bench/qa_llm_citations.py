"""Does the generative Q&A path answer with its own, cited text? SmolLM2-135M on a real tritonserver.

    python bench/qa_llm_citations.py [--docs dmca.pdf,...] [--max-tokens 48] [--limit N]

A handful of ``docs/good`` files are ingested with the real services into a bench tenant (MiniLM
and SmolLM2 both served by one local tritonserver, vectors in Milvus Lite); then for every
``qa/dev.jsonl`` question about those files:

- qa-v1 (the old prompt, all 8 retrieved chunks): the raw completion, whether it carries a
  ``[n]`` marker, and whether post-hoc grounding alone would keep any of it;
- qa-v2 (current): the product's ``qa_stream``; the raw marker count comes from
  ``guardrails.grounding.llm_markers``, "kept" means the answer is the LLM's grounded text
  (``model`` is the LLM), "fallback" means the extractive answer replaced it.

Greedy decoding, so a rerun on the same inputs gives the same text. Nothing here is product code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qa_common import DATA, REPO, bench_tenant, setup_django, start_milvus

DEFAULT_DOCS = (
    "dmca.pdf,federal-register-2020-17221.pdf,nics-background-checks-2015-11.pdf,scotus-transcript-p1.pdf,linn.txt"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", default=DEFAULT_DOCS)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--skip-v1", action="store_true")
    ap.add_argument("--dump", type=Path, help="write question, raw v2 text and shown passages as JSON")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from inference.triton.builtin import MINILM_NAME, install_minilm
    from inference.triton.builtin.smollm2 import SMOLLM2_NAME, install_smollm2
    from inference.triton.client import TritonAdmin
    from inference.triton.server import TritonServer, free_port

    with tempfile.TemporaryDirectory(prefix="qa-llm-") as tmpdir, contextlib.ExitStack() as stack:
        tmp = Path(tmpdir)
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
        server.wait_ready(120)
        admin = TritonAdmin(server.http_url, timeout_s=300)
        stack.callback(admin.close)
        for name in (MINILM_NAME, SMOLLM2_NAME):
            admin.load_model(name)
        setup_django(
            tmp,
            TRITON_URL=server.grpc_url,
            TRITON_EMBED_MODEL=MINILM_NAME,
            TRITON_LLM_MODEL=SMOLLM2_NAME,
            QA_LLM_MAX_TOKENS=str(args.max_tokens),
            TRITON_LLM_TIMEOUT_S="300",
        )
        start_milvus(stack, tmp)
        run(args)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.models import Document
    from documents.retrieval import RetrievalConfig, chunks_retrieve
    from documents.services import document_ingest, document_upload
    from models_registry.backends import get_embedder, get_llm, get_vector_store
    from qa.answering.citations import MARKER
    from qa.answering.grounding import ground_answer
    from qa.answering.prompts import build_qa_messages, prompt_chunks
    from qa.api.serializers import QaAnswerSerializer
    from qa.services.ask import QA_DEFAULT_TOP_K, qa_prepare, qa_stream
    from qa.services.trace import EXTRACTIVE_MODEL

    settings.QA_LLM_MAX_TOKENS = args.max_tokens
    names = args.docs.split(",")
    tenant, _membership, actor = bench_tenant()
    t0 = time.perf_counter()
    for name in names:
        path = DATA / "docs" / "good" / name
        doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile(path.name, path.read_bytes()))
        doc = document_ingest(tenant=tenant, document_id=doc.pk, lease_id=f"bench-{doc.pk}")
        assert doc is not None and doc.status == Document.Status.READY, (name, doc and doc.error)
    print(f"ingested {len(names)} files in {time.perf_counter() - t0:.1f} s", flush=True)

    rows = [json.loads(line) for line in (DATA / "qa" / "dev.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["doc"].split("/", 1)[1] in names]
    if args.limit:
        rows = rows[: args.limit]
    llm = get_llm()
    assert llm is not None
    v1_markers = v1_kept = v2_markers = v2_kept = v2_found = 0
    gen_s: list[float] = []
    dump: list[dict] = []
    for row in rows:
        q = row["question"]
        v1 = ""
        if not args.skip_v1:
            chunks = chunks_retrieve(
                tenant=tenant,
                query=q,
                store=get_vector_store(),
                embedder=get_embedder(),
                config=RetrievalConfig(top_k=QA_DEFAULT_TOP_K),
            ).chunks
            raw, _p, c = llm.generate(build_qa_messages(q, chunks, version="qa-v1"), max_tokens=args.max_tokens)
            v1_markers += bool(MARKER.search(raw))
            g = ground_answer(raw, prompt_chunks(chunks, "qa-v1"), question=q, truncated=c >= args.max_tokens)
            v1_kept += bool(g.citations)
            v1 = f"v1 markers={bool(MARKER.search(raw))} grounded_kept={bool(g.citations)} raw={raw[:100]!r}"
        t = time.perf_counter()
        trace = qa_prepare(tenant=tenant, actor=actor, question=q)
        events = list(qa_stream(trace))
        gen_s.append(time.perf_counter() - t)
        body = QaAnswerSerializer(trace).data
        kinds = [e.kind for e in events]
        cut = kinds.index("reset") if "reset" in kinds else len(events)
        raw_v2 = "".join(e.text for e in events[:cut] if e.kind == "delta")
        if args.dump:
            chunks = chunks_retrieve(
                tenant=tenant,
                query=q,
                store=get_vector_store(),
                embedder=get_embedder(),
                config=RetrievalConfig(top_k=QA_DEFAULT_TOP_K),
            ).chunks
            shown = [
                {k: getattr(c, k) for k in ("chunk_id", "document_id", "document_title", "page", "text", "score")}
                for c in prompt_chunks(chunks)
            ]
            dump.append({"id": row["id"], "question": q, "raw": raw_v2, "chunks": shown})
        gr = body["guardrails"].get("grounding") or {}
        has_markers = gr.get("llm_markers", 0) > 0
        kept = body["model"] != EXTRACTIVE_MODEL
        v2_markers += has_markers
        v2_kept += kept
        v2_found += body["found"]
        print(f"{row['id']} answerable={row['answerable']}", flush=True)
        if v1:
            print(f"  {v1}")
        print(
            f"  v2 markers={has_markers} kept={kept} found={body['found']} flagged={body['flagged']} "
            f"cited={gr.get('cited_sentences')} grounded={gr.get('grounded_sentences')} "
            f"removed={len(gr.get('removed_unsupported_sentences', []))} fallback={body['guardrails']['fallback']!r}"
        )
        print(f"  raw={raw_v2[:200]!r}")
        for sentence in gr.get("removed_unsupported_sentences", []):
            print(f"  removed: {sentence[:160]!r}")
        print(f"  answer={body['answer'][:160]!r}", flush=True)
    if args.dump:
        args.dump.write_text(json.dumps(dump, ensure_ascii=False, indent=1))
    n = len(rows)
    print(f"\n{n} questions, max_tokens={args.max_tokens}")
    if not args.skip_v1:
        print(f"qa-v1: raw answers with a [n] marker {v1_markers}/{n}; kept after grounding {v1_kept}/{n}")
    print(
        f"qa-v2: raw answers with a [n] marker {v2_markers}/{n}; LLM answer kept (grounded) {v2_kept}/{n}, "
        f"extractive fallback {n - v2_kept}/{n}; found {v2_found}/{n}; "
        f"qa_stream mean {sum(gen_s) / max(n, 1):.1f} s"
    )


if __name__ == "__main__":
    main()
