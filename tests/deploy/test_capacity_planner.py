"""Capacity planner: hand-computed expectations against the shipped, versioned data files.

Run with ``python -m pytest -p no:django tests/deploy/test_capacity_planner.py``.
Every expected number below is worked out in the comment next to it from the catalog values
(quoted), so a change to the data or the formulas shows up here as a named failure.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from deploy.capacity import PlanInput, PlanInputError, plan, plan_input_from_dict
from deploy.capacity import estimate as est
from deploy.capacity.catalog import load_catalog

CAT = load_catalog()

# The published row: NIM 1.8.0, Llama-3.3-70B-Instruct, 2x H100 80G, fp8 TP2, 5000 in / 500 out.
TABLE_70B = PlanInput(
    use_case="chatbot",
    concurrent_users=25,
    model="llama-3.3-70b-instruct",
    prompt_tokens=5000,
    output_tokens=500,
    allowed_gpus=("H100-SXM-80GB",),
    ttft_slo_ms=1500,
    tpot_slo_ms=80,
    e2e_slo_ms=60000,
)


def _hw(gpu: str, tp: int = 1, precision: str = "bf16") -> est.Hardware:
    g = CAT.gpus[gpu]
    tflops = g.fp8_tflops if precision == "fp8" else g.bf16_tflops
    assert tflops is not None
    return est.Hardware(gpu, None, tp, g.memory_gb, g.memory_bandwidth_gbs, tflops, g.nvlink, 1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Formulas
# ---------------------------------------------------------------------------------------------


def test_kv_cache_bytes_llama_8b_at_4k_context() -> None:
    # Llama-3.1-8B: 32 layers, 8 KV heads, head_dim 128, 16-bit KV.
    # per token = 2 * 32 * 8 * 128 * 2 = 131,072 B; 4,096 tokens = 536,870,912 B (exactly 0.5 GiB).
    m = CAT.models["llama-3.1-8b-instruct"]
    assert est.kv_bytes_per_token(m) == 131_072
    assert est.kv_bytes_per_token(m) * 4096 == 536_870_912 == 512 * 2**20


def test_memory_fit_8b_on_l4_hand_computed() -> None:
    # L4: 24 GB x 0.90 = 21.6 GB usable. Weights bf16 = 8.03e9 x 2 = 16.06 GB.
    # Overhead = 1.0 GB + 5% of 16.06 = 1.803 GB. Free = 21.6 - 16.06 - 1.803 = 3.737 GB.
    # One 4,096-token sequence = 0.536870912 GB -> floor(3.737 / 0.5369) = 6 sequences.
    m = CAT.models["llama-3.1-8b-instruct"]
    fit = est.llm_memory(m, _hw("L4"), "bf16", 4096)
    assert fit.weights_gb == pytest.approx(16.06)
    assert fit.overhead_gb == pytest.approx(1.803)
    assert fit.usable_gb == pytest.approx(21.6)
    assert fit.kv_cache_gb_per_sequence == pytest.approx(0.536870912)
    assert fit.max_concurrency == 6


def test_memory_fit_rejects_70b_bf16_on_one_h100() -> None:
    # 70.55e9 x 2 B = 141.1 GB of weights > 80 GB x 0.9 = 72 GB usable: zero sequences fit.
    m = CAT.models["llama-3.1-70b-instruct"]
    assert est.llm_memory(m, _hw("H100-SXM-80GB"), "bf16", 2000).max_concurrency == 0
    # TP2 + fp8: 35.275 GB weights per GPU + 2.76 GB overhead leave room for sequences.
    assert est.llm_memory(m, _hw("H100-SXM-80GB", 2, "fp8"), "fp8", 2000).max_concurrency > 0


def test_roofline_is_calibrated_against_the_published_70b_row() -> None:
    # Same conditions as the published NIM row at concurrency 1: TTFT 406.77 ms, ITL 18.58 ms.
    m = CAT.models["llama-3.3-70b-instruct"]
    p = est.llm_roofline(m, _hw("H100-SXM-80GB", 2, "fp8"), "fp8", 5000, 500, 1)
    assert p.provenance == "estimated"
    assert p.ttft_ms == pytest.approx(406.77, rel=0.15)
    assert p.tpot_ms == pytest.approx(18.58, rel=0.20)


def test_percentile_conversion_uses_documented_tail_factors() -> None:
    assert est.to_percentile(100.0, "ttft", 90) == pytest.approx(130.0)
    assert est.to_percentile(100.0, "tpot", 99) == pytest.approx(130.0)
    assert est.to_percentile(100.0, "e2e", 50) == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------


def test_table_hit_is_benchmarked_with_published_numbers() -> None:
    # 25 users, headroom 0.25: c* = 50 (see next test) -> ceil(31.25 / 50) = 1 replica running
    # exactly 25 concurrent requests: the table row at 25 (TTFT 688.69, ITL 38.75, 623.4 tok/s).
    r = plan(TABLE_70B)
    assert r.feasible
    p = r.recommended.primary
    assert (p.model, p.gpu, p.gpus_per_replica, p.precision, p.replicas) == (
        "llama-3.3-70b-instruct",
        "H100-SXM-80GB",
        2,
        "fp8",
        1,
    )
    pred = p.predicted
    assert pred.concurrency_per_replica == 25
    for fig in (pred.ttft_ms, pred.tpot_ms, pred.e2e_ms, pred.throughput_tokens_s_total):
        assert fig.provenance == "benchmarked"
        assert "nim-llm-bench-1.0.0" in fig.source
    # mean -> p90: TTFT x 1.3 = 895.297; TPOT x 1.1 = 42.625; throughput is not tail-adjusted.
    assert pred.ttft_ms.value == pytest.approx(895.3, abs=0.06)
    assert pred.tpot_ms.value == pytest.approx(42.625, abs=0.06)
    assert pred.throughput_tokens_s_total.value == pytest.approx(623.4)
    assert any("tail factors" in n for n in p.notes)


def test_replicas_for_100_users_from_table_throughput_and_cost() -> None:
    # At c=50: p90 TTFT 834.51 x 1.3 = 1084.9 <= 1500; TPOT 59.73 x 1.1 = 65.7 <= 80;
    # e2e (834.51 + 499 x 59.73) x 1.15 = 35,236 <= 60,000 -> passes.
    # Next grid point 64 interpolates towards c=100 (TTFT 7996 ms) -> p90 TTFT ~4,400 ms: fails.
    # So 50 per replica; 100 users x 1.25 headroom = 125 -> ceil(125 / 50) = 3 replicas.
    # Cost: 3 replicas x 2 GPUs x $3.90/GPU-h x 730 h = $17,082.00.
    r = plan(replace(TABLE_70B, concurrent_users=100))
    p = r.recommended.primary
    assert p.max_concurrency_per_replica == 50
    assert p.replicas == 3
    assert p.cost.monthly_usd == pytest.approx(17_082.00)
    assert r.recommended.total_monthly_usd == pytest.approx(17_082.00)
    # 100 / 3 = 33.3 concurrent per replica: between the 25 and 50 rows -> interpolated.
    assert p.predicted.concurrency_per_replica == pytest.approx(33.333, abs=0.001)
    assert p.predicted.ttft_ms.provenance == "interpolated"
    w = math.log(100 / 3 / 25) / math.log(2)
    assert p.predicted.ttft_ms.value == pytest.approx((688.69 + w * (834.51 - 688.69)) * 1.3, abs=0.06)


def test_qps_mode_replicas_from_table_request_rate() -> None:
    # Capacity at c*=50: 814.37 tok/s / 500 tokens = 1.62874 req/s per replica.
    # 3 QPS x 1.25 = 3.75 -> ceil(3.75 / 1.62874) = ceil(2.30) = 3 replicas.
    r = plan(replace(TABLE_70B, concurrent_users=None, qps=3.0))
    p = r.recommended.primary
    assert p.replicas == 3
    assert p.predicted.requests_per_s_total.value == pytest.approx(3.0)


def test_missing_pair_is_estimated_and_has_numbers() -> None:
    # No table row exists for Mistral-7B on A10G: the roofline must still answer.
    r = plan(
        PlanInput(
            use_case="chatbot",
            concurrent_users=4,
            model="mistral-7b-instruct-v0.3",
            allowed_gpus=("A10G",),
        )
    )
    assert r.feasible
    p = r.recommended.primary
    assert p.gpu == "A10G"
    for fig in (
        p.predicted.ttft_ms,
        p.predicted.tpot_ms,
        p.predicted.e2e_ms,
        p.predicted.throughput_tokens_s_total,
    ):
        assert fig.provenance == "estimated"
        assert fig.value > 0
    assert p.memory.fits


# ---------------------------------------------------------------------------------------------
# Infeasibility and errors
# ---------------------------------------------------------------------------------------------


def test_impossible_ttft_is_infeasible_with_best_achievable_reason() -> None:
    r = plan(PlanInput(use_case="chatbot", concurrent_users=10, ttft_slo_ms=5, prompt_tokens=2000))
    assert not r.feasible
    assert r.recommended is None
    assert len(r.reasons) == 1
    reason = r.reasons[0]
    assert reason.startswith("TTFT SLO 5 ms is below the best achievable ")
    assert "at prompt 2,000 tokens" in reason
    best_ms = float(reason.split("best achievable ")[1].split(" ms")[0].replace(",", ""))
    assert best_ms > 5
    assert r.infeasible and all(i.reasons for i in r.infeasible)


def test_context_too_long_is_a_named_reason() -> None:
    r = plan(
        PlanInput(
            use_case="summarization",
            concurrent_users=1,
            model="mistral-7b-instruct-v0.3",
            prompt_tokens=40000,
        )
    )
    assert not r.feasible
    assert any("exceed mistral-7b-instruct-v0.3's context 32,768" in x for i in r.infeasible for x in i.reasons)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrent_users": 0}, "concurrent_users must be a positive integer (got 0)"),
        ({"qps": 0}, "qps must be a positive number (got 0)"),
        ({"concurrent_users": 5, "prompt_tokens": -1}, "prompt_tokens must be a positive integer (got -1)"),
        ({"concurrent_users": 5, "output_tokens": -3}, "output_tokens must be a positive integer (got -3)"),
        ({"concurrent_users": 5, "allowed_gpus": ("B300",)}, "unknown GPU(s): B300"),
        ({"concurrent_users": 5, "qps": 1.0}, "give exactly one of concurrent_users or qps"),
        ({}, "give exactly one of concurrent_users or qps"),
        ({"concurrent_users": 5, "percentile": 80}, "percentile must be one of"),
        ({"concurrent_users": 5, "model": "all-minilm-l6-v2"}, "is a embedder, this needs a llm"),
        ({"concurrent_users": 5, "price_overrides": {"Z9": 1.0}}, "unknown GPU 'Z9'"),
    ],
)
def test_invalid_inputs_raise_plan_input_error(kwargs: dict, message: str) -> None:
    with pytest.raises(PlanInputError) as exc:
        plan(PlanInput(use_case="chatbot", **kwargs))
    assert message in str(exc.value)


def test_unknown_use_case_lists_the_templates() -> None:
    with pytest.raises(PlanInputError, match=r"unknown use_case 'poetry'.*chatbot"):
        plan(PlanInput(use_case="poetry", concurrent_users=1))


# ---------------------------------------------------------------------------------------------
# Budget, MIG, costs
# ---------------------------------------------------------------------------------------------


def test_budget_below_cheapest_option_is_infeasible_and_names_both_amounts() -> None:
    base = PlanInput(use_case="chatbot", concurrent_users=10)
    unconstrained = plan(base)
    cheapest = unconstrained.recommended.total_monthly_usd
    r = plan(replace(base, monthly_budget_usd=500))
    assert not r.feasible
    assert r.reasons[0].startswith(f"budget $500/month is below the cheapest feasible option ${cheapest:,.0f}/month")
    assert r.alternatives[0].total_monthly_usd == cheapest
    assert not r.alternatives[0].within_budget


def test_budget_filter_keeps_recommendation_within_budget() -> None:
    base = PlanInput(use_case="chatbot", concurrent_users=10, top_n=20)
    ranked = plan(base)
    budget = ranked.recommended.total_monthly_usd + 1
    r = plan(replace(base, monthly_budget_usd=budget))
    assert r.feasible
    assert r.recommended.total_monthly_usd <= budget
    assert all(a.within_budget == (a.total_monthly_usd <= budget) for a in r.alternatives)
    costs = [r.recommended.total_monthly_usd] + [a.total_monthly_usd for a in r.alternatives]
    assert costs == sorted(costs)


def test_mig_slice_chosen_for_small_embedder() -> None:
    # all-MiniLM-L6-v2 needs ~46 MB of weights. H100 1g.10gb is billed 1/7 of $3.90 = $0.5571/h
    # -> $406.71/month, cheaper than a whole L4 at $0.8048/h -> $587.50/month.
    base = PlanInput(use_case="embeddings", qps=200, allowed_gpus=("L4", "H100-SXM-80GB"))
    with_mig = plan(replace(base, mig_allowed=True)).recommended.primary
    assert (with_mig.gpu, with_mig.mig_profile, with_mig.replicas) == ("H100-SXM-80GB", "1g.10gb", 1)
    assert with_mig.cost.monthly_usd == pytest.approx(3.90 / 7 * 730, abs=0.01)
    assert with_mig.cost.monthly_usd == pytest.approx(406.71)
    assert with_mig.physical_gpus == 1
    assert with_mig.predicted.ttft_ms is None and with_mig.predicted.tpot_ms is None
    without = plan(base).recommended.primary
    assert (without.gpu, without.mig_profile) == ("L4", None)
    assert without.cost.monthly_usd == pytest.approx(587.50)


def test_price_override_monthly_cost_arithmetic() -> None:
    # 1 replica x 1 L4 at an overridden $1.00/h x 730 h = $730.00.
    r = plan(
        PlanInput(
            use_case="embeddings",
            concurrent_users=1,
            allowed_gpus=("L4",),
            price_overrides={"L4": 1.0},
        )
    )
    p = r.recommended.primary
    assert p.replicas == 1
    assert p.cost.monthly_usd == pytest.approx(730.00)
    assert p.cost.price_source == "price_overrides" and p.cost.price_verified is False


# ---------------------------------------------------------------------------------------------
# RAG stack, determinism, JSON
# ---------------------------------------------------------------------------------------------


def test_rag_stack_has_all_four_components_and_sums_costs() -> None:
    r = plan(PlanInput(use_case="rag_qa", concurrent_users=50))
    assert r.feasible
    d = r.recommended
    assert d.primary.component == "llm"
    assert [c.component for c in d.components] == ["embedder", "reranker"]
    assert d.components[0].model == "all-minilm-l6-v2"
    assert d.components[1].model == "ms-marco-minilm-l6-v2"
    # Milvus: 10,000 docs x 20 chunks = 200,000 vectors x (384 dims x 4 B x 1.5 HNSW + 1,500 B
    # metadata) = 200,000 x 3,804 B = 0.7608 GB -> one r6i.xlarge at $0.252/h x 730 = $183.96.
    mv = d.milvus
    assert mv is not None
    assert (mv.vectors, mv.dim, mv.index) == (200_000, 384, "HNSW")
    assert mv.memory_gb_per_replica == pytest.approx(0.7608)
    assert mv.nodes == 1
    assert mv.cost.monthly_usd == pytest.approx(183.96)
    parts = d.primary.cost.monthly_usd + sum(c.cost.monthly_usd for c in d.components) + mv.cost.monthly_usd
    assert d.total_monthly_usd == pytest.approx(parts, abs=0.02)
    # User-visible first token = retrieval (embed + 30 ms search budget + rerank) + LLM TTFT.
    assert d.user_visible_ttft_ms > d.primary.predicted.ttft_ms.value + 30


def test_rag_corpus_inputs_scale_milvus() -> None:
    # 1,000,000 docs x 10 chunks = 10M vectors x 3,804 B = 38.04 GB per replica;
    # a node holds 34.36 GB x 0.7 = 24.05 GB -> 2 nodes per replica x 2 replicas = 4 nodes.
    r = plan(
        PlanInput(use_case="rag_qa", qps=1.0, corpus_documents=1_000_000, chunks_per_document=10, milvus_replicas=2)
    )
    mv = r.recommended.milvus
    assert mv.memory_gb_per_replica == pytest.approx(38.04)
    assert mv.memory_gb_total == pytest.approx(76.08)
    assert mv.nodes == 4


def test_plan_is_deterministic() -> None:
    inp = PlanInput(use_case="rag_qa", concurrent_users=40, mig_allowed=True, top_n=10)
    a, b = plan(inp), plan(inp)
    assert a == b
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_from_dict_and_json_round_trip() -> None:
    inp = plan_input_from_dict({"use_case": "code_generation", "qps": 2, "allowed_gpus": ["L40S", "H100-SXM-80GB"]})
    assert inp.allowed_gpus == ("L40S", "H100-SXM-80GB")
    out = json.loads(json.dumps(plan(inp).to_dict()))
    assert out["use_case"] == "code_generation"
    assert out["recommended"]["primary"]["predicted"]["ttft_ms"]["provenance"] in {
        "benchmarked",
        "interpolated",
        "estimated",
    }
    assert set(out["data_versions"]) == {
        "gpus-v1.yaml",
        "models-v1.yaml",
        "benchmarks-v1.yaml",
        "templates-v1.yaml",
    }
    with pytest.raises(PlanInputError, match="unknown plan input field"):
        plan_input_from_dict({"use_case": "chatbot", "users": 5})


# ---------------------------------------------------------------------------------------------
# Data files
# ---------------------------------------------------------------------------------------------


def test_catalog_covers_required_gpus_and_cites_sources() -> None:
    required = {"L4", "L40S", "A10G", "A100-40GB", "A100-80GB", "H100-SXM-80GB", "H200"}
    assert required <= set(CAT.gpus)
    for g in CAT.gpus.values():
        assert g.price.source in CAT.sources and g.spec_source in CAT.sources
        assert g.price.as_of
    for t in CAT.latency_tables:
        assert t.provenance in {"published", "estimated"}
        assert t.source in CAT.sources
    assert set(CAT.versions) == {"gpus-v1.yaml", "models-v1.yaml", "benchmarks-v1.yaml", "templates-v1.yaml"}
    assert {"chatbot", "rag_qa", "summarization", "code_generation", "embeddings", "recommendations"} <= set(
        CAT.templates
    )
