"""Performance and memory estimates for one model on one hardware slot.

Three sources, in order of preference (the planner picks; see ``docs/capacity-planning.md``):

1. a published latency table row at exactly the asked concurrency -> "benchmarked";
2. the same row between two measured concurrencies, log-linear in concurrency -> "interpolated";
3. the roofline model below -> "estimated".

Invariants:
- Every function here is pure and deterministic (no clocks, no randomness, no I/O), so the same
  inputs always give bit-identical floats.
- Latency figures returned here are MEANS; ``to_percentile`` converts them with the documented
  tail factors. Units are explicit in every name (``_ms``, ``_s``, ``_gb``, ``_bytes``).
- The roofline never returns "no answer" for a pair that fits in memory: every model x GPU pair
  gets numbers, labelled "estimated".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deploy.capacity.catalog import LatencyTable, Model, ThroughputCeiling

# --- Roofline constants (estimated; see docs/capacity-planning.md "Calibration") ---------------
PRECISION_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
# KV cache is kept in 16-bit even for FP8 weights (vLLM's default kv_cache_dtype="auto").
KV_DTYPE_BYTES = 2
# Fraction of device memory the engine may use (vLLM gpu_memory_utilization default).
GPU_MEMORY_UTILIZATION = 0.90
# CUDA context, allocator slack and runtime buffers per GPU, plus activations as a share of the
# weights held by that GPU.
RUNTIME_OVERHEAD_GB = 1.0
ACTIVATION_FRACTION = 0.05
# Achieved fraction of peak: HBM/GDDR bandwidth in decode, tensor FLOPs in prefill/decode/encoders.
BW_EFFICIENCY = 0.70
MFU_PREFILL = 0.50
MFU_DECODE = 0.40
MFU_ENCODER = 0.35
# Tensor-parallel scaling efficiency (all-reduce cost), by interconnect.
TP_EFFICIENCY_NVLINK = 0.90
TP_EFFICIENCY_PCIE = 0.75
PREFILL_OVERHEAD_MS = 5.0
DECODE_STEP_OVERHEAD_MS = 0.5
ENCODER_BATCH_OVERHEAD_MS = 2.0
# Tail factors: percentile value = mean x factor (estimated rules of thumb; TTFT has the widest
# tail because it absorbs queueing, TPOT the narrowest because decode steps are uniform).
TAIL_FACTORS: dict[int, dict[str, float]] = {
    50: {"ttft": 1.0, "tpot": 1.0, "e2e": 1.0},
    90: {"ttft": 1.3, "tpot": 1.1, "e2e": 1.15},
    95: {"ttft": 1.5, "tpot": 1.15, "e2e": 1.2},
    99: {"ttft": 2.0, "tpot": 1.3, "e2e": 1.35},
}
# A table row or throughput ceiling applies when the asked input and output token counts are
# within this relative distance of the measured ones.
SHAPE_TOLERANCE = 0.10

BENCHMARKED = "benchmarked"
INTERPOLATED = "interpolated"
ESTIMATED = "estimated"


@dataclass(frozen=True)
class Hardware:
    """One replica's hardware: ``tp`` whole GPUs, or one MIG instance (``tp`` == 1)."""

    gpu: str
    mig_profile: str | None
    tp: int
    memory_gb: float  # per GPU or per MIG instance
    bandwidth_gbs: float  # per GPU or per MIG instance
    tflops: float  # dense, at the chosen precision, per GPU or per MIG instance
    nvlink: bool
    gpu_fraction: float  # share of one physical GPU per tp rank (1.0, or MIG compute share)
    usd_per_hour: float  # for the whole replica

    @property
    def label(self) -> str:
        if self.mig_profile:
            return f"{self.gpu} MIG {self.mig_profile}"
        return f"{self.tp}x {self.gpu}"


@dataclass(frozen=True)
class Point:
    """Mean performance of one replica at ``concurrency`` in-flight requests."""

    concurrency: float
    ttft_ms: float | None
    tpot_ms: float | None
    e2e_ms: float
    throughput_tokens_s: float  # LLM: output tokens/s; encoder: input tokens/s
    requests_per_s: float
    provenance: str
    source: str
    statistic: str = "mean"
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoryFit:
    weights_gb: float  # per replica (all GPUs)
    kv_cache_gb_per_sequence: float  # per replica
    overhead_gb: float  # per replica
    usable_gb: float  # per replica, after GPU_MEMORY_UTILIZATION
    max_concurrency: int  # sequences whose KV cache fits; 0 = does not fit at all

    def kv_cache_gb(self, concurrency: float) -> float:
        return self.kv_cache_gb_per_sequence * concurrency


def kv_bytes_per_token(model: Model) -> int:
    """2 (K and V) x layers x kv_heads x head_dim x KV dtype bytes."""
    return 2 * model.layers * model.kv_heads * model.head_dim * KV_DTYPE_BYTES


def weights_bytes(model: Model, precision: str) -> float:
    return model.params * PRECISION_BYTES[precision]


def tp_efficiency(hw: Hardware) -> float:
    if hw.tp == 1:
        return 1.0
    return TP_EFFICIENCY_NVLINK if hw.nvlink else TP_EFFICIENCY_PCIE


def llm_memory(model: Model, hw: Hardware, precision: str, seq_tokens: int) -> MemoryFit:
    """Weights + KV cache for ``seq_tokens`` per sequence + overhead against usable memory.

    With tensor parallelism each GPU holds 1/tp of the weights and ceil(kv_heads/tp)/kv_heads of
    each sequence's KV cache (KV heads are replicated when tp > kv_heads).
    """
    w_gpu = weights_bytes(model, precision) / hw.tp
    kv_share = math.ceil(model.kv_heads / hw.tp) / model.kv_heads
    kv_seq_gpu = seq_tokens * kv_bytes_per_token(model) * kv_share
    overhead_gpu = RUNTIME_OVERHEAD_GB * 1e9 + ACTIVATION_FRACTION * w_gpu
    usable_gpu = hw.memory_gb * 1e9 * GPU_MEMORY_UTILIZATION
    free = usable_gpu - w_gpu - overhead_gpu
    max_c = int(free // kv_seq_gpu) if free > 0 else 0
    return MemoryFit(
        weights_gb=w_gpu * hw.tp / 1e9,
        kv_cache_gb_per_sequence=kv_seq_gpu * hw.tp / 1e9,
        overhead_gb=overhead_gpu * hw.tp / 1e9,
        usable_gb=usable_gpu * hw.tp / 1e9,
        max_concurrency=max_c,
    )


def encoder_memory(model: Model, hw: Hardware, tokens: int, seqs_per_request: int) -> MemoryFit:
    """Encoders keep no KV cache; per-request memory is the activations of its sequences."""
    w = weights_bytes(model, "fp16")
    overhead = RUNTIME_OVERHEAD_GB * 1e9 + ACTIVATION_FRACTION * w
    # Activations alive during one layer: ~ 12 hidden-sized tensors per token (QKV, attention
    # output, 4x MLP), 2 bytes each. Only one layer's worth is live at a time.
    act_per_req = seqs_per_request * tokens * model.hidden_size * 12 * 2
    usable = hw.memory_gb * 1e9 * GPU_MEMORY_UTILIZATION
    free = usable - w - overhead
    max_c = int(free // act_per_req) if free > 0 else 0
    return MemoryFit(
        weights_gb=w / 1e9,
        kv_cache_gb_per_sequence=act_per_req / 1e9,
        overhead_gb=overhead / 1e9,
        usable_gb=usable / 1e9,
        max_concurrency=max_c,
    )


def prefill_seconds(model: Model, hw: Hardware, precision: str, prompt_tokens: int) -> float:
    """2*params*L matmul FLOPs + 2*layers*L^2*hidden causal-attention FLOPs at MFU_PREFILL."""
    flops = 2 * model.params * prompt_tokens + 2 * model.layers * prompt_tokens**2 * model.hidden_size
    t_compute = flops / (hw.tp * hw.tflops * 1e12 * MFU_PREFILL)
    t_memory = weights_bytes(model, precision) / hw.tp / (hw.bandwidth_gbs * 1e9 * BW_EFFICIENCY)
    return max(t_compute, t_memory) / tp_efficiency(hw) + PREFILL_OVERHEAD_MS / 1e3


def decode_step_seconds(model: Model, hw: Hardware, precision: str, concurrency: float, context_tokens: float) -> float:
    """One decode step for ``concurrency`` sequences: read weights + their KV cache once."""
    kv_share = math.ceil(model.kv_heads / hw.tp) / model.kv_heads
    bytes_gpu = (
        weights_bytes(model, precision) / hw.tp + concurrency * context_tokens * kv_bytes_per_token(model) * kv_share
    )
    t_memory = bytes_gpu / (hw.bandwidth_gbs * 1e9 * BW_EFFICIENCY)
    t_compute = 2 * model.params * concurrency / (hw.tp * hw.tflops * 1e12 * MFU_DECODE)
    return max(t_memory, t_compute) / tp_efficiency(hw) + DECODE_STEP_OVERHEAD_MS / 1e3


def _shape_matches(isl: int, osl: int, want_isl: int, want_osl: int) -> bool:
    return abs(isl - want_isl) <= SHAPE_TOLERANCE * isl and abs(osl - want_osl) <= SHAPE_TOLERANCE * osl


def ceiling_for(
    ceilings: tuple[ThroughputCeiling, ...],
    model: str,
    hw: Hardware,
    precision: str,
    prompt_tokens: int,
    output_tokens: int,
) -> tuple[float, str] | None:
    if hw.mig_profile:
        return None
    for c in ceilings:
        if (c.model, c.gpu, c.tensor_parallel, c.precision) != (model, hw.gpu, hw.tp, precision):
            continue
        for isl, osl, tok_s in c.shapes:
            if _shape_matches(isl, osl, prompt_tokens, output_tokens):
                return tok_s, c.source
    return None


def llm_roofline(
    model: Model,
    hw: Hardware,
    precision: str,
    prompt_tokens: int,
    output_tokens: int,
    concurrency: float,
    ceiling: tuple[float, str] | None = None,
) -> Point:
    """Closed-loop serving estimate with chunked prefill sharing the GPU with decode.

    rho = share of GPU time spent in prefill = arrival rate x prefill time, where the arrival
    rate of a closed loop is concurrency / e2e. Decode gets (1 - rho) of the GPU, and a new
    request waits for the prefill server like an M/D/1 queue. rho is the unique root of
    rho = c * t_prefill / e2e(rho) in [0, 1) (the right side falls as rho rises), found by
    bisection so the result is exact-deterministic.
    """
    t_p = prefill_seconds(model, hw, precision, prompt_tokens)
    step = decode_step_seconds(model, hw, precision, concurrency, prompt_tokens + output_tokens / 2)
    n_dec = output_tokens - 1

    def parts(rho: float) -> tuple[float, float, float]:
        ttft = t_p * (1 + rho / (2 * (1 - rho))) + step / (1 - rho)
        tpot = step / (1 - rho)
        return ttft, tpot, ttft + n_dec * tpot

    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(100):
        mid = (lo + hi) / 2
        if concurrency * t_p / parts(mid)[2] - mid > 0:
            lo = mid
        else:
            hi = mid
    ttft_s, tpot_s, e2e_s = parts(lo)
    thr = concurrency * output_tokens / e2e_s
    notes: list[str] = [f"prefill share of GPU time {lo:.2f}"]
    source = "roofline"
    if ceiling is not None and thr > ceiling[0]:
        # The published offline maximum says the roofline is optimistic here: stretch decode.
        scale = thr / ceiling[0]
        tpot_s *= scale
        e2e_s = ttft_s + n_dec * tpot_s
        thr = concurrency * output_tokens / e2e_s
        notes.append(f"capped at the published max throughput {ceiling[0]:.0f} tok/s ({ceiling[1]})")
        source = f"roofline, capped by {ceiling[1]}"
    return Point(
        concurrency=concurrency,
        ttft_ms=ttft_s * 1e3,
        tpot_ms=tpot_s * 1e3 if output_tokens > 1 else None,
        e2e_ms=e2e_s * 1e3,
        throughput_tokens_s=thr,
        requests_per_s=concurrency / e2e_s,
        provenance=ESTIMATED,
        source=source,
        notes=tuple(notes),
    )


def table_matches(table: LatencyTable, model: str, hw: Hardware, precision: str, isl: int, osl: int) -> bool:
    return (
        hw.mig_profile is None
        and (table.model, table.gpu, table.tensor_parallel, table.precision) == (model, hw.gpu, hw.tp, precision)
        and _shape_matches(table.input_tokens, table.output_tokens, isl, osl)
    )


def table_point(table: LatencyTable, concurrency: float, output_tokens: int) -> Point | None:
    """Exact hit -> benchmarked; between two rows -> interpolated (log-linear); outside -> None.

    Measured curves are never extrapolated: beyond the largest measured concurrency the planner
    adds replicas instead.
    """
    pts = table.points
    if concurrency < pts[0][0] or concurrency > pts[-1][0]:
        return None
    ttft = tpot = thr = 0.0
    prov = BENCHMARKED
    for i, (c, a, b, t) in enumerate(pts):
        if c == concurrency:
            ttft, tpot, thr = a, b, t
            break
        nxt = pts[min(i + 1, len(pts) - 1)]
        if c < concurrency < nxt[0]:
            w = (math.log(concurrency) - math.log(c)) / (math.log(nxt[0]) - math.log(c))
            ttft = a + w * (nxt[1] - a)
            tpot = b + w * (nxt[2] - b)
            thr = t + w * (nxt[3] - t)
            prov = INTERPOLATED
            break
    e2e_ms = ttft + (output_tokens - 1) * tpot
    kind = "published" if table.provenance == "published" else "estimated table row"
    return Point(
        concurrency=concurrency,
        ttft_ms=ttft,
        tpot_ms=tpot,
        e2e_ms=e2e_ms,
        throughput_tokens_s=thr,
        requests_per_s=thr / output_tokens,
        provenance=prov if table.provenance == "published" else ESTIMATED,
        source=f"{table.source} ({kind}, table {table.id})",
        statistic=table.statistic,
    )


def encoder_roofline(model: Model, hw: Hardware, tokens: int, seqs_per_request: int, concurrency: float) -> Point:
    """Dynamic batching: the ``concurrency`` in-flight requests run as one batch.

    batch time = max(FLOPs / (TFLOPS x MFU_ENCODER), weights / bandwidth) + fixed overhead, with
    FLOPs = 2*params*tokens per sequence + 4*layers*tokens^2*hidden (bidirectional attention).
    In a closed loop each request's latency is one batch time.
    """
    n = concurrency * seqs_per_request
    flops = n * (2 * model.params * tokens + 4 * model.layers * tokens**2 * model.hidden_size)
    t_compute = flops / (hw.tflops * 1e12 * MFU_ENCODER)
    t_memory = weights_bytes(model, "fp16") / (hw.bandwidth_gbs * 1e9 * BW_EFFICIENCY)
    t = max(t_compute, t_memory) + ENCODER_BATCH_OVERHEAD_MS / 1e3
    rps = concurrency / t
    return Point(
        concurrency=concurrency,
        ttft_ms=None,
        tpot_ms=None,
        e2e_ms=t * 1e3,
        throughput_tokens_s=rps * seqs_per_request * tokens,
        requests_per_s=rps,
        provenance=ESTIMATED,
        source="roofline",
    )


def to_percentile(value_ms: float, metric: str, percentile: int, statistic: str = "mean") -> float:
    """Convert a ``statistic`` (mean or pNN) figure to the asked percentile via TAIL_FACTORS."""
    base = 1.0 if statistic == "mean" else TAIL_FACTORS[int(statistic.lstrip("p"))][metric]
    return value_ms * TAIL_FACTORS[percentile][metric] / base
