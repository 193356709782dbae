"""SLO-driven capacity planner: ``plan(PlanInput) -> PlanResult``.

For every allowed (model, GPU or MIG slice, tensor-parallel size, precision) it finds the largest
per-replica concurrency whose predicted latencies at the asked percentile meet the SLOs, sizes
replicas for the load plus headroom, prices the result, and ranks feasible deployments by
monthly cost. For rag_qa it sizes the whole stack (LLM + embedder + reranker + Milvus); for
recommendations the embedder + Milvus.

Invariants:
- Pure and deterministic: no clock, no randomness, no I/O beyond reading the versioned data
  files once; every sort has a total key, so the same input gives an equal result.
- Never "no results" while any configuration could work: pairs missing from the benchmark table
  get roofline estimates labelled "estimated".
- An infeasible plan always says why (per candidate, and a summary naming the binding SLO with
  the best achievable value, or the budget versus the cheapest feasible cost).
- Invalid requests raise ``PlanInputError`` before any work is done.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from deploy.capacity import estimate as est
from deploy.capacity.catalog import Catalog, LatencyTable, Model, Template, load_catalog
from deploy.capacity.schema import (
    HOURS_PER_MONTH,
    PERCENTILES,
    Cost,
    Deployment,
    Figure,
    Infeasible,
    Memory,
    MilvusPlan,
    Option,
    PlanInput,
    PlanInputError,
    PlanResult,
    Predicted,
)

GRID = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TP_SIZES = (1, 2, 4, 8)
# Milvus in-memory size = vectors x dim x 4 bytes x factor (+ scalar fields). Estimated: HNSW
# keeps the raw vectors inside the graph plus M=16..32 links per node and segment slack.
INDEX_OVERHEAD = {"FLAT": 1.0, "IVF_FLAT": 1.1, "IVF_SQ8": 0.35, "HNSW": 1.5}
MILVUS_NODE_FILL = 0.7  # fraction of a query node's RAM given to loaded segments
METADATA_BYTES_PER_VECTOR = {"rag_qa": 1500, "recommendations": 256}  # chunk text + ids / item ids


@dataclass(frozen=True)
class _Spec:
    """What one component must serve: tokens per sequence, sequences per request, its SLOs."""

    component: str
    model: Model
    prompt: int
    output: int
    seqs: int
    slo: dict[str, float]


@dataclass(frozen=True)
class _Eval:
    spec: _Spec
    hw: est.Hardware
    precision: str
    c_star: int
    point_star: est.Point
    perf: Callable[[float], est.Point | None]
    mem: est.MemoryFit
    table: LatencyTable | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Sized:
    option: Option
    monthly: float
    rps_total: float
    e2e_p_ms: float
    ttft_p_ms: float | None
    gpu_eq: float


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _pos_int(name: str, value: object, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PlanInputError(f"{name} must be a positive integer (got {value!r})")


def _pos_num(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise PlanInputError(f"{name} must be a positive number (got {value!r})")


def _validate(inp: PlanInput, cat: Catalog) -> Template:
    if inp.use_case not in cat.templates:
        raise PlanInputError(f"unknown use_case {inp.use_case!r}; expected one of: {', '.join(sorted(cat.templates))}")
    tpl = cat.templates[inp.use_case]
    if (inp.concurrent_users is None) == (inp.qps is None):
        raise PlanInputError("give exactly one of concurrent_users or qps")
    _pos_int("concurrent_users", inp.concurrent_users)
    _pos_num("qps", inp.qps)
    _pos_int("prompt_tokens", inp.prompt_tokens)
    if tpl.kind == "llm":
        _pos_int("output_tokens", inp.output_tokens)
    elif inp.output_tokens not in (None, 0):
        raise PlanInputError(f"output_tokens must be 0 or omitted for {inp.use_case} (got {inp.output_tokens!r})")
    if inp.percentile not in PERCENTILES:
        raise PlanInputError(f"percentile must be one of {PERCENTILES} (got {inp.percentile!r})")
    for name in ("ttft_slo_ms", "tpot_slo_ms", "e2e_slo_ms", "monthly_budget_usd"):
        _pos_num(name, getattr(inp, name))
    if tpl.kind != "llm" and (inp.ttft_slo_ms is not None or inp.tpot_slo_ms is not None):
        raise PlanInputError(f"{inp.use_case} has no token streaming: only e2e_slo_ms applies")
    if inp.allowed_gpus is not None:
        if len(inp.allowed_gpus) == 0:
            raise PlanInputError("allowed_gpus is empty; omit it to allow every GPU")
        unknown = sorted(set(inp.allowed_gpus) - set(cat.gpus))
        if unknown:
            raise PlanInputError(f"unknown GPU(s): {', '.join(unknown)}; known GPUs: {', '.join(sorted(cat.gpus))}")
    _pos_int("max_gpus_per_replica", inp.max_gpus_per_replica, allow_none=False)
    if inp.max_gpus_per_replica > max(TP_SIZES):
        raise PlanInputError(f"max_gpus_per_replica must be <= {max(TP_SIZES)} (one node)")
    if isinstance(inp.headroom, bool) or not isinstance(inp.headroom, int | float) or not 0 <= inp.headroom <= 2:
        raise PlanInputError(f"headroom must be a fraction between 0 and 2 (got {inp.headroom!r})")
    if isinstance(inp.top_n, bool) or not isinstance(inp.top_n, int) or not 0 <= inp.top_n <= 50:
        raise PlanInputError(f"top_n must be an integer between 0 and 50 (got {inp.top_n!r})")
    _check_model(cat, "model", inp.model, tpl.kind)
    stack = tpl.stack
    for field_name, kind in (("embedder_model", "embedder"), ("reranker_model", "reranker")):
        value = getattr(inp, field_name)
        if value is not None and kind not in stack:
            raise PlanInputError(f"{field_name} does not apply to {inp.use_case}")
        _check_model(cat, field_name, value, kind)
    for name in ("corpus_documents", "chunks_per_document", "milvus_replicas", "rerank_top_k"):
        _pos_int(name, getattr(inp, name))
        if getattr(inp, name) is not None and "milvus" not in stack:
            raise PlanInputError(f"{name} does not apply to {inp.use_case}")
    if inp.rerank_top_k is not None and "reranker" not in stack:
        raise PlanInputError(f"rerank_top_k does not apply to {inp.use_case}")
    if inp.milvus_index is not None:
        if "milvus" not in stack:
            raise PlanInputError(f"milvus_index does not apply to {inp.use_case}")
        if inp.milvus_index not in INDEX_OVERHEAD:
            raise PlanInputError(f"milvus_index must be one of {', '.join(sorted(INDEX_OVERHEAD))}")
    for gpu, price in sorted((inp.price_overrides or {}).items()):
        if gpu not in cat.gpus:
            raise PlanInputError(f"price_overrides names unknown GPU {gpu!r}")
        _pos_num(f"price_overrides[{gpu}]", price)
    return tpl


def _check_model(cat: Catalog, field_name: str, name: str | None, kind: str) -> None:
    if name is None:
        return
    if name not in cat.models:
        raise PlanInputError(f"unknown {field_name} {name!r}; known: {', '.join(sorted(cat.models))}")
    if cat.models[name].kind != kind:
        raise PlanInputError(f"{field_name} {name!r} is a {cat.models[name].kind}, this needs a {kind}")


# --------------------------------------------------------------------------------------------
# Candidate hardware and evaluation
# --------------------------------------------------------------------------------------------


def _hardware(cat: Catalog, inp: PlanInput, precision: str, max_tp: int) -> list[est.Hardware]:
    out: list[est.Hardware] = []
    names = sorted(inp.allowed_gpus) if inp.allowed_gpus else sorted(cat.gpus)
    overrides = dict(inp.price_overrides or {})
    for name in names:
        g = cat.gpus[name]
        tflops = g.fp8_tflops if precision == "fp8" else g.bf16_tflops
        if tflops is None:
            continue  # no FP8 tensor cores (Ampere)
        price = float(overrides.get(name, g.price.usd_per_gpu_hour))
        for tp in TP_SIZES:
            if tp <= max_tp:
                out.append(
                    est.Hardware(name, None, tp, g.memory_gb, g.memory_bandwidth_gbs, tflops, g.nvlink, 1.0, price * tp)
                )
        if inp.mig_allowed:
            for p in g.mig_profiles:
                if p.compute_fraction >= 1.0:
                    continue  # 7g is the whole GPU, already covered
                # A slice is billed for the larger of its compute and memory share: a 1g.20gb
                # blocks two of eight memory slices even though it has one of seven SM groups.
                share = max(p.compute_fraction, p.memory_fraction)
                out.append(
                    est.Hardware(
                        name,
                        p.name,
                        1,
                        p.memory_gb,
                        g.memory_bandwidth_gbs * p.memory_fraction,
                        tflops * p.compute_fraction,
                        False,
                        share,
                        price * share,
                    )
                )
    return out


def _pct(point: est.Point, metric: str, pct: int) -> float | None:
    value = {"ttft": point.ttft_ms, "tpot": point.tpot_ms, "e2e": point.e2e_ms}[metric]
    if value is None:
        return None
    return est.to_percentile(value, metric, pct, point.statistic)


def _violations(spec: _Spec, hw: est.Hardware, precision: str, point: est.Point, pct: int) -> list[str]:
    out = []
    where = f"{spec.model.name} on {hw.label} ({precision})"
    shape = f"prompt {spec.prompt:,} tokens" if spec.component == "llm" else f"{spec.seqs}x{spec.prompt:,} tokens"
    for metric, key, label in (
        ("ttft", "ttft_ms", "TTFT"),
        ("tpot", "tpot_ms", "TPOT"),
        ("e2e", "e2e_ms", "e2e latency"),
    ):
        slo = spec.slo.get(key)
        value = _pct(point, metric, pct)
        if slo is None or value is None or value <= slo:
            continue
        if point.concurrency == 1:
            out.append(
                f"{label} SLO {slo:g} ms is below the best achievable {value:,.0f} ms (p{pct}) for {where} at {shape}"
            )
        else:
            out.append(f"{label} p{pct} {value:,.0f} ms exceeds SLO {slo:g} ms at concurrency {point.concurrency:g}")
    return out


def _evaluate(
    cat: Catalog, spec: _Spec, hw: est.Hardware, precision: str, pct: int
) -> tuple[_Eval | None, list[str], est.Point | None]:
    """Largest grid concurrency meeting every SLO; or (None, reasons, concurrency-1 point)."""
    m = spec.model
    if spec.component == "llm":
        if spec.prompt + spec.output > m.context_length:
            return (
                None,
                [f"prompt+output {spec.prompt + spec.output:,} tokens exceed {m.name}'s context {m.context_length:,}"],
                None,
            )
        mem = est.llm_memory(m, hw, precision, spec.prompt + spec.output)
        table = next(
            (t for t in cat.latency_tables if est.table_matches(t, m.name, hw, precision, spec.prompt, spec.output)),
            None,
        )
    else:
        if spec.prompt > m.context_length:
            return (
                None,
                [f"input of {spec.prompt:,} tokens exceeds {m.name}'s max {m.context_length:,} (would be truncated)"],
                None,
            )
        mem = est.encoder_memory(m, hw, spec.prompt, spec.seqs)
        table = None
    notes: list[str] = []
    if table is not None:

        def perf(c: float) -> est.Point | None:
            return est.table_point(table, c, spec.output)

        grid = sorted({*GRID, *(p[0] for p in table.points)} & set(range(1, table.points[-1][0] + 1)))
        if mem.max_concurrency < table.points[-1][0]:
            notes.append(
                "published latencies are used beyond the roofline KV-cache limit "
                f"({mem.max_concurrency} sequences at 16-bit KV): "
                "the measured engine queued or used a smaller KV format"
            )
    else:
        if mem.max_concurrency < 1:
            need = mem.weights_gb + mem.overhead_gb + mem.kv_cache_gb_per_sequence
            return (
                None,
                [
                    f"does not fit: weights {mem.weights_gb:,.1f} GB + overhead {mem.overhead_gb:,.1f} GB "
                    f"+ one sequence {mem.kv_cache_gb_per_sequence:,.2f} GB = {need:,.1f} GB "
                    f"> usable {mem.usable_gb:,.1f} GB on {hw.label}"
                ],
                None,
            )
        cap = min(mem.max_concurrency, GRID[-1])
        grid = sorted({c for c in GRID if c <= cap} | {cap})
        if spec.component == "llm":
            ceiling = est.ceiling_for(cat.ceilings, m.name, hw, precision, spec.prompt, spec.output)

            def perf(c: float) -> est.Point | None:
                return est.llm_roofline(m, hw, precision, spec.prompt, spec.output, c, ceiling)

        else:

            def perf(c: float) -> est.Point | None:
                return est.encoder_roofline(m, hw, spec.prompt, spec.seqs, c)

    best: tuple[int, est.Point] | None = None
    first: est.Point | None = None
    for c in grid:
        point = perf(c)
        if point is None:
            break
        if first is None:
            first = point
        reasons = _violations(spec, hw, precision, point, pct)
        if reasons:
            if best is None:
                return None, reasons, first
            break
        best = (c, point)
    if best is None:
        return None, ["no concurrency level meets the SLOs"], first
    return _Eval(spec, hw, precision, best[0], best[1], perf, mem, table, tuple(notes)), [], first


def _size(ev: _Eval, users: int | None, qps: float | None, headroom: float) -> tuple[int, est.Point]:
    """Replicas for the load x (1 + headroom) and the per-replica operating point."""
    if users is not None:
        replicas = max(1, math.ceil(users * (1 + headroom) / ev.c_star - 1e-9))
        c_op = max(1.0, users / replicas)
        point = ev.perf(float(c_op) if c_op != int(c_op) else int(c_op))
    else:
        assert qps is not None
        replicas = max(1, math.ceil(qps * (1 + headroom) / ev.point_star.requests_per_s - 1e-9))
        target = qps / replicas
        lo, hi = 1.0, float(ev.c_star)
        point = ev.perf(1)
        if point is not None and point.requests_per_s < target:
            for _ in range(60):  # request rate rises with concurrency: bisect to the load's level
                mid = (lo + hi) / 2
                p_mid = ev.perf(mid)
                if p_mid is not None and p_mid.requests_per_s < target:
                    lo = mid
                else:
                    hi = mid
            point = ev.perf(hi)
    assert point is not None
    return replicas, point


def _fig(value: float, unit: str, point: est.Point, digits: int = 1) -> Figure:
    return Figure(round(value, digits), unit, point.provenance, point.source)


def _option(cat: Catalog, ev: _Eval, users: int | None, qps: float | None, headroom: float, pct: int) -> _Sized:
    replicas, op = _size(ev, users, qps, headroom)
    hw, spec = ev.hw, ev.spec
    ttft_p, tpot_p, e2e_p = (_pct(op, k, pct) for k in ("ttft", "tpot", "e2e"))
    assert e2e_p is not None
    monthly = hw.usd_per_hour * replicas * HOURS_PER_MONTH
    gpu_eq = replicas * hw.tp * hw.gpu_fraction
    g = cat.gpus[hw.gpu]
    if hw.mig_profile:
        per_gpu = next(p.max_instances for p in g.mig_profiles if p.name == hw.mig_profile)
        physical = math.ceil(replicas / per_gpu)
    else:
        physical = replicas * hw.tp
    notes = list(ev.notes) + list(op.notes)
    if op.statistic != f"p{pct}":
        notes.append(
            f"p{pct} derived from the source's {op.statistic} with tail factors {est.TAIL_FACTORS[pct]} (estimated)"
        )
    if ev.precision == "fp8":
        notes.append("FP8 weights: validate answer quality against the BF16 model before rollout")
    if hw.tp > 1 and not hw.nvlink:
        notes.append(f"tensor parallel over PCIe (efficiency {est.TP_EFFICIENCY_PCIE})")
    if hw.mig_profile:
        notes.append(
            f"MIG slice billed at {hw.gpu_fraction:.3f} of a GPU; reserve {physical} whole GPU(s) if not shared"
        )
    price_overridden = hw.usd_per_hour != g.price.usd_per_gpu_hour * hw.tp * hw.gpu_fraction
    kv_at_star = ev.mem.kv_cache_gb(ev.c_star)
    # Users mode: the closed loop's own rate. QPS mode: the offered load (a lightly loaded
    # replica at concurrency 1 could serve more, but it only receives qps / replicas).
    served_rps = op.requests_per_s * replicas if qps is None else float(qps)
    tokens_per_request = op.throughput_tokens_s / op.requests_per_s
    predicted = Predicted(
        percentile=pct,
        concurrency_per_replica=round(op.concurrency, 3),
        ttft_ms=None if ttft_p is None else _fig(ttft_p, "ms", op),
        tpot_ms=None if tpot_p is None else _fig(tpot_p, "ms", op),
        e2e_ms=_fig(e2e_p, "ms", op),
        throughput_tokens_s_per_replica=_fig(served_rps * tokens_per_request / replicas, "tokens/s", op),
        throughput_tokens_s_total=_fig(served_rps * tokens_per_request, "tokens/s", op),
        requests_per_s_total=_fig(served_rps, "requests/s", op, 3),
    )
    option = Option(
        component=spec.component,
        model=spec.model.name,
        gpu=hw.gpu,
        mig_profile=hw.mig_profile,
        precision=ev.precision,
        gpus_per_replica=hw.tp,
        replicas=replicas,
        gpu_equivalents=round(gpu_eq, 4),
        physical_gpus=physical,
        max_concurrency_per_replica=ev.c_star,
        predicted=predicted,
        memory=Memory(
            weights_gb=round(ev.mem.weights_gb, 3),
            kv_cache_gb=round(kv_at_star, 3),
            overhead_gb=round(ev.mem.overhead_gb, 3),
            usable_gb=round(ev.mem.usable_gb, 3),
            max_concurrency_by_memory=ev.mem.max_concurrency,
            fits=ev.mem.max_concurrency >= ev.c_star or ev.table is not None,
        ),
        cost=Cost(
            usd_per_hour=round(hw.usd_per_hour * replicas, 4),
            monthly_usd=round(monthly, 2),
            hours_per_month=HOURS_PER_MONTH,
            price_source="price_overrides" if price_overridden else cat.sources.get(g.price.source, g.price.source),
            price_verified=False if price_overridden else g.price.verified,
        ),
        notes=tuple(notes),
    )
    return _Sized(option, monthly, served_rps, e2e_p, ttft_p, gpu_eq)


def _sort_key(s: _Sized) -> tuple[float, float, str, str, str, int, str]:
    o = s.option
    return (
        round(s.monthly, 6),
        round(s.gpu_eq, 6),
        o.model,
        o.gpu,
        o.mig_profile or "",
        o.gpus_per_replica,
        o.precision,
    )


def _precisions(model: Model, inp: PlanInput) -> list[str]:
    return [p for p in model.precisions if p != "fp8" or inp.allow_fp8]


def _search(
    cat: Catalog, inp: PlanInput, spec: _Spec, pct: int, max_tp: int
) -> tuple[list[_Eval], list[tuple[_Spec, est.Hardware, str, list[str], est.Point | None]]]:
    ok: list[_Eval] = []
    failed = []
    for precision in _precisions(spec.model, inp):
        for hw in _hardware(cat, inp, precision, max_tp):
            ev, reasons, first = _evaluate(cat, spec, hw, precision, pct)
            if ev is not None:
                ok.append(ev)
            else:
                failed.append((spec, hw, precision, reasons, first))
    return ok, failed


# --------------------------------------------------------------------------------------------
# Retrieval stack
# --------------------------------------------------------------------------------------------


def _component_spec(cat: Catalog, inp: PlanInput, tpl: Template, name: str, pct: int) -> _Spec:
    conf = tpl.stack[name]
    override = inp.embedder_model if name == "embedder" else inp.reranker_model
    model = cat.models[override or conf["model"]]
    seqs = int(inp.rerank_top_k or conf.get("top_k", 1)) if name == "reranker" else int(conf.get("seqs_per_request", 1))
    return _Spec(name, model, int(conf["tokens"]), 0, seqs, {"e2e_ms": float(conf["e2e_ms"])})


def _size_component(
    cat: Catalog,
    inp: PlanInput,
    spec: _Spec,
    qps: float,
    pct: int,
    cache: dict[tuple[str, float], tuple[_Sized | None, list[str]]],
) -> tuple[_Sized | None, list[str]]:
    key = (spec.component, round(qps, 9))
    if key not in cache:
        evals, failed = _search(cat, inp, spec, pct, 1)
        sized = sorted((_option(cat, ev, None, qps, inp.headroom, pct) for ev in evals), key=_sort_key)
        reasons = sorted({r for f in failed for r in f[3]})
        cache[key] = (sized[0], []) if sized else (None, reasons[:3])
    return cache[key]


def _milvus(cat: Catalog, inp: PlanInput, tpl: Template, dim: int) -> MilvusPlan:
    conf = tpl.stack["milvus"]
    docs = inp.corpus_documents or int(conf["documents"])
    chunks = inp.chunks_per_document or int(conf["chunks_per_document"])
    index = inp.milvus_index or str(conf["index"])
    replicas = inp.milvus_replicas or int(conf["replicas"])
    meta = METADATA_BYTES_PER_VECTOR[tpl.name]
    vectors = docs * chunks
    factor = INDEX_OVERHEAD[index]
    per_replica_gb = vectors * (dim * 4 * factor + meta) / 1e9
    node = cat.cpu_nodes["milvus-default"]
    nodes = max(1, math.ceil(per_replica_gb / (node.memory_gb * MILVUS_NODE_FILL) - 1e-9)) * replicas
    monthly = nodes * node.usd_per_hour * HOURS_PER_MONTH
    return MilvusPlan(
        vectors=vectors,
        dim=dim,
        index=index,
        index_overhead_factor=factor,
        metadata_bytes_per_vector=meta,
        memory_gb_per_replica=round(per_replica_gb, 4),
        replicas=replicas,
        memory_gb_total=round(per_replica_gb * replicas, 4),
        node_instance=node.instance,
        nodes=nodes,
        cost=Cost(
            usd_per_hour=round(nodes * node.usd_per_hour, 4),
            monthly_usd=round(monthly, 2),
            hours_per_month=HOURS_PER_MONTH,
            price_source=cat.sources.get(node.source, node.source),
            price_verified=node.verified,
        ),
    )


# --------------------------------------------------------------------------------------------
# Infeasibility explanations
# --------------------------------------------------------------------------------------------


def _summarise_failures(failed: list, spec_slo: dict[str, float], pct: int) -> list[str]:
    """Name each SLO no configuration can meet, with the best value any configuration achieves."""
    reasons: list[str] = []
    firsts = [(f[4], f[0], f[1], f[2]) for f in failed if f[4] is not None]
    for metric, key, label in (
        ("ttft", "ttft_ms", "TTFT"),
        ("tpot", "tpot_ms", "TPOT"),
        ("e2e", "e2e_ms", "e2e latency"),
    ):
        slo = spec_slo.get(key)
        vals = [(value, s, hw, prec) for p, s, hw, prec in firsts if (value := _pct(p, metric, pct)) is not None]
        if slo is None or not vals:
            continue
        best = min(vals, key=lambda v: (v[0], v[1].model.name, v[2].label, v[3]))
        if best[0] > slo:
            s, hw, prec = best[1], best[2], best[3]
            shape = f"prompt {s.prompt:,} tokens" if s.component == "llm" else f"{s.seqs}x{s.prompt:,} tokens"
            reasons.append(
                f"{label} SLO {slo:g} ms is below the best achievable {best[0]:,.0f} ms (p{pct}) "
                f"for {s.model.name} on {hw.label} ({prec}) at {shape}"
            )
    if not reasons:
        if not firsts:
            other = sorted({r for f in failed for r in f[3]})
            reasons.append("no allowed configuration can run the model: " + "; ".join(other[:3]))
        else:
            reasons.append("no single configuration meets all SLOs at once; see `infeasible` for each candidate")
    return reasons


def _infeasible_entries(failed: list, feasible_pairs: set[tuple[str, str]]) -> list[Infeasible]:
    by_pair: dict[tuple[str, str], list] = {}
    for f in failed:
        spec, hw = f[0], f[1]
        by_pair.setdefault((spec.model.name, hw.gpu), []).append(f)
    out = []
    for (model, gpu), items in sorted(by_pair.items()):
        if (model, gpu) in feasible_pairs:
            continue
        # Report the most capable configurations tried (largest TP, whole GPUs): their reasons bind.
        whole = [f for f in items if f[1].mig_profile is None] or items
        top_tp = max(f[1].tp for f in whole)
        reasons: list[str] = []
        for f in sorted((f for f in whole if f[1].tp == top_tp), key=lambda f: (f[2], f[1].label)):
            for r in f[3]:
                if r not in reasons:
                    reasons.append(r)
        out.append(Infeasible(items[0][0].component, model, gpu, tuple(reasons)))
    return out


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def plan(inp: PlanInput, *, data_dir: str | None = None) -> PlanResult:
    """Size a deployment for ``inp``. Raises ``PlanInputError`` for invalid input.

    ``data_dir`` selects another set of versioned data files (tests, or a newer data_version).
    """
    cat = load_catalog(data_dir)
    tpl = _validate(inp, cat)
    pct = inp.percentile
    slo = dict(tpl.slo)
    for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
        override = getattr(inp, key.replace("_ms", "_slo_ms"))
        if override is not None:
            slo[key] = float(override)
    prompt = inp.prompt_tokens or tpl.prompt_tokens
    output = inp.output_tokens or tpl.output_tokens
    models = [inp.model] if inp.model else list(tpl.models)

    ok: list[_Eval] = []
    failed: list = []
    for name in sorted(models):
        spec = _Spec(tpl.kind, cat.models[name], prompt, output, 1, slo)
        max_tp = inp.max_gpus_per_replica if tpl.kind == "llm" else 1
        e, f = _search(cat, inp, spec, pct, max_tp)
        ok += e
        failed += f

    primaries = sorted((_option(cat, ev, inp.concurrent_users, inp.qps, inp.headroom, pct) for ev in ok), key=_sort_key)
    comp_specs = [_component_spec(cat, inp, tpl, n, pct) for n in ("embedder", "reranker") if n in tpl.stack]
    cache: dict = {}
    deployments: list[tuple[tuple, Deployment]] = []
    stack_reasons: list[str] = []
    for p in primaries:
        rate = inp.qps if inp.qps is not None else p.rps_total
        comps: list[_Sized] = []
        for cs in comp_specs:
            sized, why = _size_component(cat, inp, cs, rate, pct, cache)
            if sized is None:
                stack_reasons += [f"{cs.component} {cs.model.name}: {r}" for r in why]
                break
            comps.append(sized)
        else:
            milvus = None
            if "milvus" in tpl.stack:
                dim = comp_specs[0].model.embedding_dim if comp_specs else cat.models[p.option.model].embedding_dim
                milvus = _milvus(cat, inp, tpl, int(dim or 0))
            total = p.monthly + sum(c.monthly for c in comps) + (milvus.cost.monthly_usd if milvus else 0.0)
            visible = None
            if tpl.name == "rag_qa" and p.ttft_p_ms is not None:
                search_ms = float(tpl.stack["milvus"]["search_budget_ms"])
                visible = round(p.ttft_p_ms + sum(c.e2e_p_ms for c in comps) + search_ms, 1)
            within = inp.monthly_budget_usd is None or total <= inp.monthly_budget_usd + 1e-9
            dep = Deployment(p.option, tuple(c.option for c in comps), milvus, round(total, 2), within, visible)
            deployments.append(((round(total, 6), *_sort_key(p)), dep))
    deployments.sort(key=lambda kd: kd[0])
    ranked = [d for _, d in deployments]

    reasons: list[str] = []
    recommended = next((d for d in ranked if d.within_budget), None)
    if not ranked:
        reasons += _summarise_failures(failed, slo, pct) if not primaries else sorted(set(stack_reasons))[:5]
    elif recommended is None:
        cheapest = ranked[0]
        reasons.append(
            f"budget ${inp.monthly_budget_usd:,.0f}/month is below the cheapest feasible option "
            f"${cheapest.total_monthly_usd:,.0f}/month "
            f"({cheapest.primary.replicas}x {cheapest.primary.model} "
            f"on {cheapest.primary.gpus_per_replica}x {cheapest.primary.gpu}"
            f"{' MIG ' + cheapest.primary.mig_profile if cheapest.primary.mig_profile else ''})"
        )
    rest = [d for d in ranked if d is not recommended][: inp.top_n]
    feasible_pairs = {(ev.spec.model.name, ev.hw.gpu) for ev in ok}
    workload = {
        "concurrent_users": inp.concurrent_users,
        "qps": inp.qps,
        "prompt_tokens": prompt,
        "output_tokens": output,
        "headroom": inp.headroom,
        "models_considered": sorted(models),
        "gpus_considered": sorted(inp.allowed_gpus) if inp.allowed_gpus else sorted(cat.gpus),
        "mig_allowed": inp.mig_allowed,
        "allow_fp8": inp.allow_fp8,
        "max_gpus_per_replica": inp.max_gpus_per_replica,
        "monthly_budget_usd": inp.monthly_budget_usd,
    }
    return PlanResult(
        feasible=recommended is not None,
        reasons=tuple(reasons),
        use_case=inp.use_case,
        percentile=pct,
        slo=slo,
        workload=workload,
        recommended=recommended,
        alternatives=tuple(rest),
        infeasible=tuple(_infeasible_entries(failed, feasible_pairs)),
        assumptions=_assumptions(),
        data_versions=dict(cat.versions),
        sources=dict(sorted(cat.sources.items())),
    )


def _assumptions() -> dict[str, object]:
    return {
        "hours_per_month": HOURS_PER_MONTH,
        "gpu_memory_utilization": est.GPU_MEMORY_UTILIZATION,
        "runtime_overhead_gb_per_gpu": est.RUNTIME_OVERHEAD_GB,
        "activation_fraction_of_weights": est.ACTIVATION_FRACTION,
        "kv_dtype_bytes": est.KV_DTYPE_BYTES,
        "bandwidth_efficiency": est.BW_EFFICIENCY,
        "mfu_prefill": est.MFU_PREFILL,
        "mfu_decode": est.MFU_DECODE,
        "mfu_encoder": est.MFU_ENCODER,
        "tp_efficiency_nvlink": est.TP_EFFICIENCY_NVLINK,
        "tp_efficiency_pcie": est.TP_EFFICIENCY_PCIE,
        "prefill_overhead_ms": est.PREFILL_OVERHEAD_MS,
        "decode_step_overhead_ms": est.DECODE_STEP_OVERHEAD_MS,
        "encoder_batch_overhead_ms": est.ENCODER_BATCH_OVERHEAD_MS,
        "tail_factors": {str(k): v for k, v in est.TAIL_FACTORS.items()},
        "shape_tolerance": est.SHAPE_TOLERANCE,
        "concurrency_grid": list(GRID),
        "milvus_index_overhead": dict(sorted(INDEX_OVERHEAD.items())),
        "milvus_node_fill": MILVUS_NODE_FILL,
        "sizing": "replicas = ceil(load x (1 + headroom) / per-replica capacity at the SLOs)",
    }
