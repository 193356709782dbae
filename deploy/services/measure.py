"""Plan vs actual: measure real latency of a deployment on the local Triton target.

N client threads (N = the planned concurrency per replica, capped) call the deployment's first
model through tritonclient for a few seconds, closed loop (each thread sends its next request when
the previous answer arrives, the same closed loop the planner's `concurrent_users` assumes). The
result is stored next to the plan's prediction on `Deployment.measurement`.

The prediction is for the planned GPU; the local target runs on this machine's CPU, so the ratio
says how far this box is from the plan, not whether the plan is wrong (docs/deploy.md).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import tritonclient.http as th
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deploy.constants import MEASURE_DEFAULT_CONCURRENCY, MEASURE_DURATION_S, MEASURE_MAX_CONCURRENCY
from deploy.models import Deployment
from models_registry.backends import local_triton_config
from portal.celery import enqueue
from portal.exceptions import ApplicationError
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

SAMPLE_TEXT = "How do I rotate the API token of a tenant without downtime?"


def _inputs(entry: dict[str, Any]) -> list[Any]:
    batched = int(entry["max_batch_size"]) > 0
    out = []
    for spec in entry["inputs"]:
        dims = [1 if int(d) < 0 else int(d) for d in spec["dims"]]
        shape = [1, *dims] if batched else dims
        dtype = spec["data_type"].upper().removeprefix("TYPE_")
        if dtype in ("STRING", "BYTES"):
            arr = np.full(shape, SAMPLE_TEXT.encode(), dtype=object)
            dtype = "BYTES"
        else:
            arr = np.zeros(shape, dtype=th.triton_to_np_dtype(dtype))
        tensor = th.InferInput(spec["name"], shape, dtype)
        tensor.set_data_from_numpy(arr)
        out.append(tensor)
    return out


def _percentile(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    k = max(0, min(len(sorted_ms) - 1, math.ceil(p / 100 * len(sorted_ms)) - 1))
    return round(sorted_ms[k], 2)


def measure_latency(*, url: str, entry: dict[str, Any], concurrency: int, duration_s: float) -> dict[str, Any]:
    """Closed-loop load for `duration_s` with `concurrency` threads; latency percentiles in ms."""
    address = url.split("://", 1)[-1]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def worker() -> None:
        # tritonclient.http clients are bound to the thread that made them (gevent).
        client = th.InferenceServerClient(address, connection_timeout=30, network_timeout=30)
        try:
            inputs = _inputs(entry)
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    client.infer(entry["triton_name"], inputs, model_version=str(entry["version"]))
                except Exception as exc:
                    with lock:
                        errors.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, name=f"measure-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "duration_s": round(elapsed, 2),
        "requests": len(ordered),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "throughput_rps": round(len(ordered) / elapsed, 2) if elapsed else 0.0,
        "latency_ms": {
            "mean": round(sum(ordered) / len(ordered), 2) if ordered else 0.0,
            **{f"p{p}": _percentile(ordered, p) for p in (50, 90, 95, 99)},
        },
    }


def deployment_measure_request(*, tenant: Tenant, actor: Actor, deployment: Deployment) -> None:
    """Queue a plan-vs-actual measurement of an active local deployment (``deploy.measure``)."""
    access_require(tenant=tenant, actor=actor, capability="deploy.rollout", target=deployment)
    if deployment.target != Deployment.Target.LOCAL or deployment.status != Deployment.Status.ACTIVE:
        raise ApplicationError("Only an active deployment on the local Triton target can be measured.")
    enqueue("deploy.measure", tenant_id=tenant.pk, deployment_id=deployment.pk)


def deployment_measure(
    *, tenant: Tenant, deployment_id: int, duration_s: float | None = None, concurrency: int | None = None
) -> dict[str, Any] | None:
    """Measure the active revision of a local deployment and store predicted vs measured.

    Idempotent (re-measuring overwrites the previous measurement); no-op unless the deployment
    is local and active."""
    deployment = (
        Deployment.objects.for_tenant(tenant).select_related("active_revision").filter(pk=deployment_id).first()
    )
    if (
        deployment is None
        or deployment.target != Deployment.Target.LOCAL
        or deployment.status != Deployment.Status.ACTIVE
        or deployment.active_revision is None
        or not deployment.active_revision.manifests
    ):
        return None
    entry = deployment.active_revision.manifests[0]
    planned = int(
        (deployment.slo or {}).get("concurrency")
        or math.ceil(float((deployment.predicted or {}).get("concurrency_per_replica") or MEASURE_DEFAULT_CONCURRENCY))
    )
    n = max(1, min(concurrency or planned, MEASURE_MAX_CONCURRENCY))
    url = getattr(settings, "DEPLOY_LOCAL_TRITON_URL", "") or local_triton_config().http_url
    measured = measure_latency(
        url=url,
        entry=entry,
        concurrency=n,
        duration_s=duration_s or float(getattr(settings, "DEPLOY_MEASURE_DURATION_S", MEASURE_DURATION_S)),
    )
    predicted = dict(deployment.predicted or {})
    pct = int(predicted.get("percentile") or (deployment.slo or {}).get("percentile") or 90)
    measured_at_pct = measured["latency_ms"].get(f"p{pct}")
    pred_e2e = (predicted.get("e2e_ms") or {}).get("value") if isinstance(predicted.get("e2e_ms"), dict) else None
    slo_e2e = (deployment.slo or {}).get("e2e_ms")
    result = {
        "measured_at": timezone.now().isoformat(),
        "revision": deployment.active_revision.number,
        "model": f"{entry['model']}:{entry['version']}",
        "planned_concurrency": planned,
        "capped": n != planned,
        "percentile": pct,
        "predicted_e2e_ms": pred_e2e,
        "predicted_provenance": (predicted.get("e2e_ms") or {}).get("provenance") if pred_e2e else None,
        "measured_e2e_ms": measured_at_pct,
        "ratio_measured_to_predicted": round(measured_at_pct / pred_e2e, 2) if pred_e2e and measured_at_pct else None,
        "slo_e2e_ms": slo_e2e,
        "meets_slo": (measured_at_pct <= slo_e2e) if slo_e2e and measured["requests"] else None,
        "hardware_note": "measured on the portal's local CPU tritonserver; the prediction is for "
        f"{predicted.get('gpu') or 'the planned hardware'}",
        **measured,
    }
    with transaction.atomic():
        Deployment.objects.for_tenant(tenant).filter(pk=deployment.pk).update(measurement=result)
        audit_record(
            tenant=tenant,
            actor=Actor.system(label="deploy worker"),
            action="deploy.deployment.measured",
            target=deployment,
            changes={
                "measured_e2e_ms": measured_at_pct,
                "predicted_e2e_ms": pred_e2e,
                "requests": measured["requests"],
            },
        )
    return result
