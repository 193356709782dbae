"""Constants for deployments: names, limits, the catalog-GPU -> node-label map."""

from __future__ import annotations

# Server-side apply field manager for every portal rollout (one manager: re-applying a revision
# removes fields a newer revision added).
FIELD_MANAGER = "llmops-portal"

# Deployment names also name a Service (DNS-1035) and derived objects ("<name>-config"), so they
# are shorter than a plain label: the manifest builder's MAX_NAME_LENGTH.
DEPLOYMENT_NAME_MAX = 52

# A rollout worker's lease (how long before a silent worker counts as dead): the
# DEPLOY_ROLLOUT_LEASE_S setting, 120 s by default.

# Plan vs actual: the latency probe against the local Triton target.
MEASURE_DURATION_S = 3.0
MEASURE_MAX_CONCURRENCY = 16
MEASURE_DEFAULT_CONCURRENCY = 4

# Catalog GPU name (deploy/capacity/data/gpus-v1.yaml) -> the `nvidia.com/gpu.product` node label
# that NVIDIA gpu-feature-discovery publishes. Unknown names pass through unchanged.
GPU_PRODUCT_LABELS: dict[str, str] = {
    "L4": "NVIDIA-L4",
    "L40S": "NVIDIA-L40S",
    "A10G": "NVIDIA-A10G",
    "A100-40GB": "NVIDIA-A100-SXM4-40GB",
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "H100-SXM-80GB": "NVIDIA-H100-80GB-HBM3",
    "H200": "NVIDIA-H200",
}
