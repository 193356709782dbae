from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def with_figs(option: dict[str, Any]) -> dict[str, Any]:
    """A planner option plus `figs`: (label, Figure) pairs for the provenance badges."""
    p = option.get("predicted") or {}
    figs = [
        ("TTFT", p.get("ttft_ms")),
        ("TPOT", p.get("tpot_ms")),
        ("e2e", p.get("e2e_ms")),
        ("throughput", p.get("throughput_tokens_s_total")),
    ]
    return {**option, "figs": figs}
