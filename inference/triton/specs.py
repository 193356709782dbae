"""From registry data (plain JSON on a ModelVersion) to a validated Triton model spec.

The registry stores tensors as ``[{"name", "data_type", "dims"}]`` and the serving knobs as a
small dict; this module is the single translation into ``inference.triton.repository`` types, so the
config rendered at registration (to reject a bad spec with a 400) is the same one written into the
local model repository and returned by the triton-config endpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from inference.triton.repository import (
    InvalidModelConfig,
    TensorSpec,
    TritonModelSpec,
    VersionPolicy,
    validate_spec,
)

__all__ = [
    "BACKEND_FILE",
    "SERVING_KEYS",
    "default_artifact_name",
    "normalize_serving",
    "parse_tensors",
    "triton_model_name",
    "version_spec",
]

# Default file name of a single-file artifact inside ``<model>/<version>/`` per Triton backend.
# Same table as deploy/specs.py so both targets lay out an uploaded artifact identically.
BACKEND_FILE: dict[str, str] = {
    "python": "model.py",
    "onnxruntime": "model.onnx",
    "pytorch": "model.pt",
    "tensorrt": "model.plan",
}

SERVING_KEYS = frozenset(
    {"dynamic_batching", "preferred_batch_sizes", "max_queue_delay_us", "instance_kind", "instance_count"}
)


MAX_MODEL_NAME = 128


def triton_model_name(*parts: str) -> str:
    """A Triton model name made of ``parts`` (tenant slug, deployment, model...) joined by ".".

    Unambiguous as long as no part contains "." (slugs, DNS labels and registry names cannot),
    so names with a different number of parts or different parts never collide. A name longer
    than Triton's limit is cut and given a digest of the whole, instead of being truncated into
    someone else's name.
    """
    name = ".".join(parts)
    if len(name) <= MAX_MODEL_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_MODEL_NAME - len(digest) - 1]}-{digest}"


def default_artifact_name(backend: str) -> str:
    return BACKEND_FILE.get(backend, "model.bin")


def parse_tensors(kind: str, rows: Any) -> list[TensorSpec]:
    """``[{"name", "data_type", "dims"}]`` -> TensorSpecs; :class:`InvalidModelConfig` on bad shape."""
    if not isinstance(rows, list):
        raise InvalidModelConfig(f"{kind}s must be a list of {{name, data_type, dims}} objects")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidModelConfig(f"{kind} #{i + 1} must be an object with name, data_type and dims")
        missing = [k for k in ("name", "data_type", "dims") if k not in row]
        if missing:
            raise InvalidModelConfig(f"{kind} #{i + 1} is missing {', '.join(missing)}")
        dims = row["dims"]
        if not isinstance(dims, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            raise InvalidModelConfig(f"{kind} {row['name']!r}: dims must be a list of integers")
        if not isinstance(row["name"], str) or not isinstance(row["data_type"], str):
            raise InvalidModelConfig(f"{kind} #{i + 1}: name and data_type must be strings")
        out.append(TensorSpec(row["name"], row["data_type"], tuple(dims)))
    return out


def normalize_serving(serving: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check the serving knobs' keys and types; return a clean dict (unknown keys are refused)."""
    data = dict(serving or {})
    unknown = sorted(set(data) - SERVING_KEYS)
    if unknown:
        raise InvalidModelConfig(f"unknown serving option(s) {unknown}; known: {sorted(SERVING_KEYS)}")
    clean: dict[str, Any] = {}
    if "dynamic_batching" in data:
        if not isinstance(data["dynamic_batching"], bool):
            raise InvalidModelConfig("dynamic_batching must be true or false")
        clean["dynamic_batching"] = data["dynamic_batching"]
    for key in ("max_queue_delay_us", "instance_count"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise InvalidModelConfig(f"{key} must be an integer")
            clean[key] = data[key]
    if "preferred_batch_sizes" in data:
        sizes = data["preferred_batch_sizes"]
        if not isinstance(sizes, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in sizes):
            raise InvalidModelConfig("preferred_batch_sizes must be a list of integers")
        clean["preferred_batch_sizes"] = sizes
    if "instance_kind" in data:
        kind = str(data["instance_kind"]).upper()
        clean["instance_kind"] = kind if kind.startswith("KIND_") else f"KIND_{kind}"
    return clean


def version_spec(
    *,
    triton_name: str,
    backend: str,
    max_batch_size: int,
    inputs: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    parameters: Mapping[str, Any] | None,
    serving: Mapping[str, Any] | None,
    version: int | None = None,
) -> TritonModelSpec:
    """The Triton spec of one registry version; validated (raises :class:`InvalidModelConfig`).

    With ``version`` set, the version policy serves exactly that version, which is what the local
    target writes; without it Triton's default (latest 1) is used, e.g. for a preview.
    """
    knobs = normalize_serving(serving)
    if not isinstance(parameters or {}, Mapping):
        raise InvalidModelConfig("parameters must be an object of string values")
    params = {str(k): v if isinstance(v, str) else str(v) for k, v in (parameters or {}).items()}
    spec = TritonModelSpec(
        name=triton_name,
        backend=backend,
        max_batch_size=int(max_batch_size),
        inputs=parse_tensors("input", inputs),
        outputs=parse_tensors("output", outputs),
        dynamic_batching=knobs.get("dynamic_batching", False),
        preferred_batch_sizes=tuple(knobs.get("preferred_batch_sizes", ())),
        max_queue_delay_us=knobs.get("max_queue_delay_us", 0),
        instance_kind=knobs.get("instance_kind", "KIND_CPU"),
        instance_count=knobs.get("instance_count", 1),
        version_policy=VersionPolicy.specific(version) if version else VersionPolicy.latest(1),
        parameters=params,
    )
    validate_spec(spec)
    return spec
