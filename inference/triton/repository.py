"""Structured Triton model-repository entries: spec -> validated ``config.pbtxt`` -> files on disk.

The config is built with Triton's own protobuf classes (``tritonclient.grpc.model_config_pb2``)
and printed with ``google.protobuf.text_format``, so whatever we write is something Triton's
parser accepts field for field; nothing is assembled by string concatenation.

Layout written by :func:`write_model_entry`::

    <repo>/<name>/config.pbtxt
    <repo>/<name>/<version>/<files...>
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as mc

__all__ = [
    "BACKENDS",
    "DATA_TYPES",
    "InvalidModelConfig",
    "TensorSpec",
    "TritonModelSpec",
    "VersionPolicy",
    "build_config",
    "config_json",
    "normalize_data_type",
    "parse_config",
    "render_config",
    "validate_spec",
    "write_model_entry",
]

BACKENDS = frozenset({"python", "onnxruntime", "pytorch", "tensorrt", "tensorrtllm", "vllm"})
INSTANCE_KINDS = frozenset({"KIND_CPU", "KIND_GPU"})
# Triton's TYPE_* names (TYPE_INVALID excluded); "BYTES"/"STRING" both mean TYPE_STRING.
DATA_TYPES = frozenset(n for n in mc.DataType.DESCRIPTOR.values_by_name if n != "TYPE_INVALID")
_DTYPE_ALIASES = {"BYTES": "TYPE_STRING", "STRING": "TYPE_STRING", "TYPE_BYTES": "TYPE_STRING"}
# Model names become directory names and URL path segments.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class InvalidModelConfig(ValueError):
    """A model spec Triton would reject (or that would be unsafe on disk); ``message`` is for humans."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize_data_type(value: str) -> str:
    """``"FP32"``, ``"fp32"``, ``"TYPE_FP32"`` -> ``"TYPE_FP32"``; ``"BYTES"`` -> ``"TYPE_STRING"``."""
    v = value.strip().upper()
    v = _DTYPE_ALIASES.get(v, v)
    if not v.startswith("TYPE_"):
        v = _DTYPE_ALIASES.get(f"TYPE_{v}", f"TYPE_{v}")
    if v not in DATA_TYPES:
        known = ", ".join(sorted(t.removeprefix("TYPE_") for t in DATA_TYPES))
        raise InvalidModelConfig(f"unknown data type {value!r}; use one of {known} (or BYTES)")
    return v


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor. ``dims`` exclude the batch dimension when batching is on."""

    name: str
    data_type: str
    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions Triton serves: the ``latest`` N, ``all``, or ``specific`` ones."""

    kind: Literal["latest", "all", "specific"] = "latest"
    latest_n: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def latest(cls, n: int = 1) -> VersionPolicy:
        return cls("latest", latest_n=n)

    @classmethod
    def all(cls) -> VersionPolicy:
        return cls("all")

    @classmethod
    def specific(cls, *versions: int) -> VersionPolicy:
        return cls("specific", versions=tuple(versions))


@dataclass(frozen=True)
class TritonModelSpec:
    """Everything we let users set on a Triton model; see :func:`validate_spec` for the rules."""

    name: str
    backend: str
    max_batch_size: int
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    dynamic_batching: bool = False
    preferred_batch_sizes: Sequence[int] = ()
    max_queue_delay_us: int = 0
    instance_kind: str = "KIND_CPU"
    instance_count: int = 1
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    parameters: Mapping[str, str] = field(default_factory=dict)


def _validate_tensors(kind: str, tensors: Sequence[TensorSpec]) -> None:
    if not tensors:
        raise InvalidModelConfig(f"the model needs at least one {kind}")
    seen: set[str] = set()
    for t in tensors:
        if not t.name or not t.name.strip():
            raise InvalidModelConfig(f"an {kind} tensor has an empty name")
        if t.name in seen:
            raise InvalidModelConfig(f"{kind} name {t.name!r} is used twice")
        seen.add(t.name)
        try:
            normalize_data_type(t.data_type)
        except InvalidModelConfig as e:
            raise InvalidModelConfig(f"{kind} {t.name!r}: {e.message}") from None
        if not t.dims:
            # Triton wants at least one dim; scalars are written dims [1] (+ reshape).
            raise InvalidModelConfig(f"{kind} {t.name!r}: dims must not be empty (use [1] for a scalar)")
        for d in t.dims:
            if d == 0 or d < -1:
                raise InvalidModelConfig(
                    f"{kind} {t.name!r}: dim {d} is invalid; each dim is a positive size or -1 (variable)"
                )


def validate_spec(spec: TritonModelSpec) -> None:
    """Raise :class:`InvalidModelConfig` with a human message for the first problem found.

    Rules: safe model name; known backend; ``max_batch_size >= 0``; at least one input and one
    output, non-empty unique names (also unique across inputs and outputs), known data types,
    non-empty dims each ``> 0`` or ``-1``; dynamic batching and preferred sizes need
    ``max_batch_size > 0`` and preferred sizes lie in ``1..max_batch_size``; queue delay ``>= 0``;
    known instance kind; ``instance_count >= 1``; a sane version policy; non-empty parameter keys.
    """
    if not _NAME_RE.match(spec.name or ""):
        raise InvalidModelConfig(
            f"model name {spec.name!r} is invalid: use letters, digits, '_', '.', '-' "
            "(must start with a letter or digit, at most 128 characters)"
        )
    if spec.backend not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise InvalidModelConfig(f"unknown backend {spec.backend!r}; use one of {known}")
    if spec.max_batch_size < 0:
        raise InvalidModelConfig(f"max_batch_size must be >= 0 (0 disables batching), got {spec.max_batch_size}")
    _validate_tensors("input", spec.inputs)
    _validate_tensors("output", spec.outputs)
    clash = {t.name for t in spec.inputs} & {t.name for t in spec.outputs}
    if clash:
        raise InvalidModelConfig(f"tensor name(s) {sorted(clash)} used for both an input and an output")
    if spec.max_batch_size == 0:
        if spec.dynamic_batching:
            raise InvalidModelConfig("dynamic batching needs max_batch_size > 0")
        if spec.preferred_batch_sizes:
            raise InvalidModelConfig("preferred_batch_sizes need max_batch_size > 0")
    if spec.preferred_batch_sizes and not spec.dynamic_batching:
        raise InvalidModelConfig("preferred_batch_sizes only apply with dynamic batching on")
    for size in spec.preferred_batch_sizes:
        if not 1 <= size <= spec.max_batch_size:
            raise InvalidModelConfig(
                f"preferred batch size {size} is outside 1..max_batch_size ({spec.max_batch_size})"
            )
    if spec.max_queue_delay_us < 0:
        raise InvalidModelConfig(f"max_queue_delay_us must be >= 0, got {spec.max_queue_delay_us}")
    if spec.instance_kind not in INSTANCE_KINDS:
        raise InvalidModelConfig(f"instance_kind must be KIND_CPU or KIND_GPU, got {spec.instance_kind!r}")
    if spec.instance_count < 1:
        raise InvalidModelConfig(f"instance_count must be >= 1, got {spec.instance_count}")
    vp = spec.version_policy
    if vp.kind == "latest" and vp.latest_n < 1:
        raise InvalidModelConfig(f"version policy latest needs N >= 1, got {vp.latest_n}")
    if vp.kind == "specific" and (not vp.versions or any(v < 1 for v in vp.versions)):
        raise InvalidModelConfig("version policy 'specific' needs one or more versions, each >= 1")
    if vp.kind not in ("latest", "all", "specific"):
        raise InvalidModelConfig(f"unknown version policy {vp.kind!r}; use latest, all or specific")
    for key in spec.parameters:
        if not key or not key.strip():
            raise InvalidModelConfig("a parameter has an empty key")


def _tensor_kwargs(t: TensorSpec) -> dict[str, object]:
    return {"name": t.name, "data_type": mc.DataType.Value(normalize_data_type(t.data_type)), "dims": t.dims}


def build_config(spec: TritonModelSpec) -> mc.ModelConfig:
    """Validate ``spec`` and build the ``ModelConfig`` protobuf message."""
    validate_spec(spec)
    cfg = mc.ModelConfig(name=spec.name, backend=spec.backend, max_batch_size=spec.max_batch_size)
    cfg.input.extend(mc.ModelInput(**_tensor_kwargs(t)) for t in spec.inputs)  # type: ignore[arg-type]
    cfg.output.extend(mc.ModelOutput(**_tensor_kwargs(t)) for t in spec.outputs)  # type: ignore[arg-type]
    cfg.instance_group.append(
        mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.Kind.Value(spec.instance_kind), count=spec.instance_count)
    )
    if spec.dynamic_batching:
        cfg.dynamic_batching.SetInParent()  # present-but-empty means "on" with defaults
        cfg.dynamic_batching.preferred_batch_size.extend(spec.preferred_batch_sizes)
        cfg.dynamic_batching.max_queue_delay_microseconds = spec.max_queue_delay_us
    vp = spec.version_policy
    if vp.kind == "latest":
        cfg.version_policy.latest.num_versions = vp.latest_n
    elif vp.kind == "all":
        cfg.version_policy.all.SetInParent()
    else:
        cfg.version_policy.specific.versions.extend(vp.versions)
    for key, value in spec.parameters.items():
        cfg.parameters[key].string_value = value
    return cfg


def render_config(spec: TritonModelSpec) -> str:
    """The ``config.pbtxt`` text for ``spec`` (validated first)."""
    return str(text_format.MessageToString(build_config(spec)))


def config_json(spec: TritonModelSpec) -> str:
    """The same config as JSON, for ``load_model(name, config=...)`` overrides."""
    return str(json_format.MessageToJson(build_config(spec), preserving_proto_field_name=True))


def parse_config(text: str) -> mc.ModelConfig:
    """Parse ``config.pbtxt`` text; raises :class:`InvalidModelConfig` on syntax errors."""
    cfg = mc.ModelConfig()
    try:
        text_format.Parse(text, cfg)
    except text_format.ParseError as e:
        raise InvalidModelConfig(f"config.pbtxt does not parse: {e}") from None
    return cfg


def _safe_relpath(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or p.is_absolute()
        or any(part in ("", ".", "..") for part in p.parts)
        or name != str(p)
    ):
        raise InvalidModelConfig(f"file name {name!r} is not a plain relative path inside the version dir")
    return p


def _put(dest: Path, content: bytes | Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes | bytearray):
        dest.write_bytes(bytes(content))
    elif Path(content).is_dir():
        shutil.copytree(content, dest)
    else:
        shutil.copyfile(content, dest)


def write_model_entry(repo_dir: Path, spec: TritonModelSpec, version: int, files: Mapping[str, bytes | Path]) -> Path:
    """Write ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/<version>/<files>``; return the model dir.

    Atomic per piece: everything is staged in a temp dir inside ``repo_dir`` (same filesystem)
    and moved in with ``rename``, so Triton never sees a half-written version dir. An existing
    version dir is replaced; the config is replaced with ``os.replace``. File names must be plain
    relative paths (no ``..``, no absolute paths): :class:`InvalidModelConfig` otherwise.
    """
    if version < 1:
        raise InvalidModelConfig(f"version must be >= 1, got {version}")
    text = render_config(spec)
    rels = {name: _safe_relpath(name) for name in files}
    repo_dir = Path(repo_dir)
    repo_dir.mkdir(parents=True, exist_ok=True)
    model_dir = repo_dir / spec.name
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.name}-", dir=repo_dir))
    try:
        vdir = staging / str(version)
        vdir.mkdir()
        for name, content in files.items():
            _put(vdir / rels[name], content)
        (staging / "config.pbtxt").write_text(text)
        if not model_dir.exists():
            staging.rename(model_dir)
            return model_dir
        target = model_dir / str(version)
        if target.exists():
            old = staging / ".old"
            target.rename(old)
        vdir.rename(target)
        (staging / "config.pbtxt").replace(model_dir / "config.pbtxt")
        return model_dir
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
