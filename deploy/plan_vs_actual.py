"""Plan vs actual: the capacity plan's predictions beside what the local measurement saw.

Read-only and pure over ``Deployment.predicted`` (copied from the plan) and
``Deployment.measurement`` (``deploy.services.measure``). The plan predicts one percentile
(``predicted.percentile``); p50 and p95 are derived from it with the planner's own tail factors
(``deploy.capacity.estimate.to_percentile``), so the console compares like with like and says so.
Throughput is requests/s per replica at the planned concurrency. Cost per request is the plan's
(monthly cost / planned requests) beside the metered one (``usage``: priced units of the
deployment's models over their metered requests); with no metered request the row says
"not metered yet" rather than a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deploy.capacity.estimate import TAIL_FACTORS, to_percentile
from deploy.models import Deployment

SECONDS_PER_MONTH = 730 * 3600  # the planner's hours_per_month


@dataclass(frozen=True)
class Row:
    metric: str
    unit: str
    predicted: float | None
    measured: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.predicted and self.measured is not None:
            return round(self.measured / self.predicted, 2)
        return None


def _figure(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if isinstance(value, int | float) else None


def predicted_latency(predicted: dict[str, Any], percentile: int) -> tuple[float | None, str]:
    """Predicted e2e latency (ms) at ``percentile``, and how it was obtained."""
    base_pct = int(predicted.get("percentile") or 90)
    e2e = _figure(predicted.get("e2e_ms"))
    if e2e is None:
        return None, ""
    if percentile == base_pct:
        return round(e2e, 2), f"plan p{base_pct}"
    if percentile not in TAIL_FACTORS or base_pct not in TAIL_FACTORS:
        return None, ""
    value = to_percentile(e2e, "e2e", percentile, statistic=f"p{base_pct}")
    return round(value, 2), f"from the plan's p{base_pct} with the planner's tail factors"


def plan_vs_actual(deployment: Deployment, *, metered: tuple[float, int] | None = None) -> list[Row]:
    """Rows for the console; empty when the deployment has not been measured. ``metered``:
    (USD per request, requests) from the usage rows of the deployment's models."""
    m = deployment.measurement or {}
    if not m:
        return []
    predicted = deployment.predicted or {}
    measured_ms = m.get("latency_ms") or {}
    rows = []
    for pct in (50, 95):
        value, how = predicted_latency(predicted, pct)
        rows.append(Row(f"p{pct} latency", "ms", value, _figure(measured_ms.get(f"p{pct}")), how))
    replicas = max(1, int(deployment.replicas or 1))
    total_rps = _figure(predicted.get("requests_per_s_total"))
    per_replica = round(total_rps / replicas, 2) if total_rps is not None else None
    note = f"per replica at concurrency {m.get('concurrency')}"
    if m.get("capped"):
        note += f" (capped from the planned {m.get('planned_concurrency')})"
    rows.append(Row("Throughput", "req/s", per_replica, _figure(m.get("throughput_rps")), note))
    monthly = _figure(predicted.get("monthly_usd"))
    predicted_cost = monthly / (total_rps * SECONDS_PER_MONTH) if monthly is not None and total_rps else None
    if metered is None:
        rows.append(Row("Cost per request", "USD", predicted_cost, None, "not metered yet"))
    else:
        usd, requests = metered
        rows.append(
            Row("Cost per request", "USD", predicted_cost, usd, f"metered over {requests:,} requests, last 30 days")
        )
    return rows
