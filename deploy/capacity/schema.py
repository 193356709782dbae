"""Input and output types of the capacity planner (plain dataclasses, JSON via ``asdict``).

Invariants:
- ``PlanInput`` is immutable; ``plan_input_from_dict`` is the only place JSON-ish input is
  coerced, and it rejects unknown keys instead of ignoring them.
- Every output figure that is a prediction is a ``Figure`` carrying its provenance
  ("benchmarked" | "interpolated" | "estimated") and the source it came from; prices carry their
  catalog source and whether that price was verified.
- Output floats are rounded (ms to 0.1, $ to 0.01, GB to 0.001) so the JSON is stable and
  readable; ranking uses the unrounded values computed before rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

HOURS_PER_MONTH = 730
PERCENTILES = (50, 90, 95, 99)


class PlanInputError(ValueError):
    """The plan request itself is invalid (unknown use case/GPU/model, zero load, bad tokens...)."""


@dataclass(frozen=True)
class PlanInput:
    """What the user asks for. Exactly one of ``concurrent_users`` / ``qps`` must be set.

    ``concurrent_users`` counts requests in flight at once (a closed loop with no think time);
    ``qps`` is the sustained request arrival rate. ``None`` fields take the template default.
    """

    use_case: str
    concurrent_users: int | None = None
    qps: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    percentile: int = 90
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    e2e_slo_ms: float | None = None
    monthly_budget_usd: float | None = None
    allowed_gpus: tuple[str, ...] | None = None
    max_gpus_per_replica: int = 8
    mig_allowed: bool = False
    allow_fp8: bool = True
    model: str | None = None
    headroom: float = 0.25
    top_n: int = 5
    # Retrieval stack (rag_qa, recommendations); None = template default.
    corpus_documents: int | None = None
    chunks_per_document: int | None = None
    embedder_model: str | None = None
    reranker_model: str | None = None
    rerank_top_k: int | None = None
    milvus_index: str | None = None
    milvus_replicas: int | None = None
    # USD per GPU-hour by catalog GPU name (e.g. negotiated or on-prem amortised prices).
    price_overrides: Mapping[str, float] | None = None


def plan_input_from_dict(data: Mapping[str, Any]) -> PlanInput:
    """Build a ``PlanInput`` from decoded JSON; raises ``PlanInputError`` on unknown keys/types."""
    if not isinstance(data, Mapping):
        raise PlanInputError("plan input must be a JSON object")
    fields = {f.name for f in dataclasses.fields(PlanInput)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise PlanInputError(f"unknown plan input field(s): {', '.join(unknown)}")
    if "use_case" not in data:
        raise PlanInputError("use_case is required")
    kwargs = dict(data)
    if kwargs.get("allowed_gpus") is not None:
        gpus = kwargs["allowed_gpus"]
        if isinstance(gpus, str) or not all(isinstance(g, str) for g in gpus):
            raise PlanInputError("allowed_gpus must be a list of GPU names")
        kwargs["allowed_gpus"] = tuple(gpus)
    if kwargs.get("price_overrides") is not None and not isinstance(kwargs["price_overrides"], Mapping):
        raise PlanInputError("price_overrides must be an object of GPU name -> USD per GPU-hour")
    return PlanInput(**kwargs)


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    provenance: str  # benchmarked | interpolated | estimated
    source: str


@dataclass(frozen=True)
class Predicted:
    percentile: int
    concurrency_per_replica: float
    ttft_ms: Figure | None
    tpot_ms: Figure | None
    e2e_ms: Figure
    throughput_tokens_s_per_replica: Figure
    throughput_tokens_s_total: Figure
    requests_per_s_total: Figure


@dataclass(frozen=True)
class Memory:
    weights_gb: float
    kv_cache_gb: float  # at the planned max concurrency per replica (activations for encoders)
    overhead_gb: float
    usable_gb: float
    max_concurrency_by_memory: int
    fits: bool


@dataclass(frozen=True)
class Cost:
    usd_per_hour: float
    monthly_usd: float
    hours_per_month: int
    price_source: str
    price_verified: bool


@dataclass(frozen=True)
class Option:
    """One sized component: ``replicas`` x (``gpus_per_replica`` GPUs or one MIG instance)."""

    component: str  # llm | embedder | reranker
    model: str
    gpu: str
    mig_profile: str | None
    precision: str
    gpus_per_replica: int
    replicas: int
    gpu_equivalents: float  # replicas x gpus_per_replica x MIG compute share
    physical_gpus: int  # GPUs to reserve if MIG slices are not shared with other workloads
    max_concurrency_per_replica: int
    predicted: Predicted
    memory: Memory
    cost: Cost
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MilvusPlan:
    vectors: int
    dim: int
    index: str
    index_overhead_factor: float
    metadata_bytes_per_vector: int
    memory_gb_per_replica: float
    replicas: int
    memory_gb_total: float
    node_instance: str
    nodes: int
    cost: Cost
    provenance: str = "estimated"


@dataclass(frozen=True)
class Deployment:
    primary: Option
    components: tuple[Option, ...]
    milvus: MilvusPlan | None
    total_monthly_usd: float
    within_budget: bool
    user_visible_ttft_ms: float | None = None


@dataclass(frozen=True)
class Infeasible:
    component: str
    model: str
    gpu: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PlanResult:
    feasible: bool
    reasons: tuple[str, ...]
    use_case: str
    percentile: int
    slo: dict[str, float]
    workload: dict[str, Any]
    recommended: Deployment | None
    alternatives: tuple[Deployment, ...]
    infeasible: tuple[Infeasible, ...]
    assumptions: dict[str, Any] = field(default_factory=dict)
    data_versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
