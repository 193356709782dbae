"""Load the planner's versioned data files into frozen dataclasses.

Invariants:
- The data files are read once per directory (cached); the returned objects are immutable, so a
  plan can never mutate the catalog another plan sees.
- A malformed file raises ``CatalogError`` naming the file and the field; the planner never runs
  on partially loaded data.
- Every dict produced here is keyed and iterated in sorted order by its consumers, so YAML key
  order never changes a plan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"
GPUS_FILE = "gpus-v1.yaml"
MODELS_FILE = "models-v1.yaml"
BENCHMARKS_FILE = "benchmarks-v1.yaml"
TEMPLATES_FILE = "templates-v1.yaml"
SUPPORTED_SCHEMA_VERSION = 1


class CatalogError(RuntimeError):
    """A data file is missing, has an unsupported schema_version, or lacks a required field."""


@dataclass(frozen=True)
class MigProfile:
    name: str
    memory_gb: float
    compute_fraction: float
    memory_fraction: float
    max_instances: int


@dataclass(frozen=True)
class Price:
    usd_per_gpu_hour: float
    source: str
    basis: str
    as_of: str
    verified: bool


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float
    memory_bandwidth_gbs: float
    bf16_tflops: float
    fp8_tflops: float | None
    nvlink: bool
    price: Price
    mig_profiles: tuple[MigProfile, ...]
    spec_source: str


@dataclass(frozen=True)
class CpuNode:
    name: str
    instance: str
    memory_gb: float
    usd_per_hour: float
    source: str
    verified: bool


@dataclass(frozen=True)
class Model:
    name: str
    kind: str  # llm | embedder | reranker
    params: float
    layers: int
    hidden_size: int
    kv_heads: int
    head_dim: int
    context_length: int
    dtype_bytes: int
    precisions: tuple[str, ...]
    embedding_dim: int | None
    source: str


@dataclass(frozen=True)
class LatencyTable:
    id: str
    model: str
    gpu: str
    tensor_parallel: int
    precision: str
    input_tokens: int
    output_tokens: int
    statistic: str
    provenance: str
    source: str
    # Sorted by concurrency: (concurrency, ttft_ms, tpot_ms, throughput_tokens_s).
    points: tuple[tuple[int, float, float, float], ...]


@dataclass(frozen=True)
class ThroughputCeiling:
    model: str
    gpu: str
    tensor_parallel: int
    precision: str
    source: str
    # Sorted: (input_tokens, output_tokens, output_tokens_s).
    shapes: tuple[tuple[int, int, float], ...]


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    slo: dict[str, float]
    prompt_tokens: int
    output_tokens: int
    models: tuple[str, ...]
    stack: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Catalog:
    gpus: dict[str, Gpu]
    cpu_nodes: dict[str, CpuNode]
    models: dict[str, Model]
    latency_tables: tuple[LatencyTable, ...]
    ceilings: tuple[ThroughputCeiling, ...]
    templates: dict[str, Template]
    versions: dict[str, str]
    sources: dict[str, str]  # source id -> url


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(f"{path}: data file not found")
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict):
        raise CatalogError(f"{path}: top level must be a mapping")
    if doc.get("schema_version") != SUPPORTED_SCHEMA_VERSION:
        raise CatalogError(
            f"{path}: schema_version {doc.get('schema_version')!r} unsupported (expected {SUPPORTED_SCHEMA_VERSION})"
        )
    for key in ("data_version", "sources"):
        if key not in doc:
            raise CatalogError(f"{path}: missing {key!r}")
    return doc


def _req(entry: dict[str, Any], key: str, where: str) -> Any:
    if entry.get(key) is None:
        raise CatalogError(f"{where}: missing {key!r}")
    return entry[key]


def _load_gpus(doc: dict[str, Any], where: str) -> tuple[dict[str, Gpu], dict[str, CpuNode]]:
    gpus: dict[str, Gpu] = {}
    for name, g in sorted(doc["gpus"].items()):
        w = f"{where}: gpus.{name}"
        p = _req(g, "price", w)
        price = Price(
            usd_per_gpu_hour=float(_req(p, "usd_per_gpu_hour", w + ".price")),
            source=str(_req(p, "source", w + ".price")),
            basis=str(_req(p, "basis", w + ".price")),
            as_of=str(_req(p, "as_of", w + ".price")),
            verified=bool(_req(p, "verified", w + ".price")),
        )
        migs = tuple(
            MigProfile(
                name=str(m["name"]),
                memory_gb=float(m["memory_gb"]),
                compute_fraction=float(m["compute_fraction"]),
                memory_fraction=float(m["memory_fraction"]),
                max_instances=int(m["max_instances"]),
            )
            for m in g.get("mig_profiles") or []
        )
        fp8 = g.get("fp8_tflops")
        gpus[name] = Gpu(
            name=name,
            memory_gb=float(_req(g, "memory_gb", w)),
            memory_bandwidth_gbs=float(_req(g, "memory_bandwidth_gbs", w)),
            bf16_tflops=float(_req(g, "bf16_tflops", w)),
            fp8_tflops=None if fp8 is None else float(fp8),
            nvlink=bool(_req(g, "nvlink", w)),
            price=price,
            mig_profiles=migs,
            spec_source=str(_req(g, "spec_source", w)),
        )
    nodes = {
        name: CpuNode(
            name=name,
            instance=str(n["instance"]),
            memory_gb=float(n["memory_gb"]),
            usd_per_hour=float(n["usd_per_hour"]),
            source=str(n["source"]),
            verified=bool(n["verified"]),
        )
        for name, n in sorted((doc.get("cpu_nodes") or {}).items())
    }
    return gpus, nodes


def _load_models(doc: dict[str, Any], where: str) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for name, m in sorted(doc["models"].items()):
        w = f"{where}: models.{name}"
        kind = str(_req(m, "kind", w))
        if kind not in {"llm", "embedder", "reranker"}:
            raise CatalogError(f"{w}: unknown kind {kind!r}")
        emb = m.get("embedding_dim")
        models[name] = Model(
            name=name,
            kind=kind,
            params=float(_req(m, "params", w)),
            layers=int(_req(m, "layers", w)),
            hidden_size=int(_req(m, "hidden_size", w)),
            kv_heads=int(_req(m, "kv_heads", w)),
            head_dim=int(_req(m, "head_dim", w)),
            context_length=int(_req(m, "context_length", w)),
            dtype_bytes=int(_req(m, "dtype_bytes", w)),
            precisions=tuple(str(p) for p in _req(m, "precisions", w)),
            embedding_dim=None if emb is None else int(emb),
            source=str(_req(m, "source", w)),
        )
    return models


def _load_benchmarks(doc: dict[str, Any], where: str) -> tuple[tuple[LatencyTable, ...], tuple[ThroughputCeiling, ...]]:
    tables = []
    for t in doc.get("latency_tables") or []:
        w = f"{where}: latency_tables.{t.get('id')}"
        prov = str(_req(t, "provenance", w))
        if prov not in {"published", "estimated"}:
            raise CatalogError(f"{w}: provenance must be published or estimated")
        if prov == "estimated" and not t.get("method"):
            raise CatalogError(f"{w}: an estimated row must state its method")
        points = tuple(sorted((int(c), float(v[0]), float(v[1]), float(v[2])) for c, v in _req(t, "points", w).items()))
        tables.append(
            LatencyTable(
                id=str(_req(t, "id", w)),
                model=str(_req(t, "model", w)),
                gpu=str(_req(t, "gpu", w)),
                tensor_parallel=int(_req(t, "tensor_parallel", w)),
                precision=str(_req(t, "precision", w)),
                input_tokens=int(_req(t, "input_tokens", w)),
                output_tokens=int(_req(t, "output_tokens", w)),
                statistic=str(_req(t, "statistic", w)),
                provenance=prov,
                source=str(_req(t, "source", w)),
                points=points,
            )
        )
    ceilings = []
    for c in doc.get("throughput_ceilings") or []:
        w = f"{where}: throughput_ceilings.{c.get('model')}/{c.get('gpu')}"
        shapes = []
        for shape, tok_s in _req(c, "output_tokens_s", w).items():
            isl, osl = (int(x) for x in str(shape).split("/"))
            shapes.append((isl, osl, float(tok_s)))
        ceilings.append(
            ThroughputCeiling(
                model=str(_req(c, "model", w)),
                gpu=str(_req(c, "gpu", w)),
                tensor_parallel=int(_req(c, "tensor_parallel", w)),
                precision=str(_req(c, "precision", w)),
                source=str(_req(c, "source", w)),
                shapes=tuple(sorted(shapes)),
            )
        )
    return tuple(sorted(tables, key=lambda t: t.id)), tuple(
        sorted(ceilings, key=lambda c: (c.model, c.gpu, c.tensor_parallel, c.precision))
    )


def _load_templates(doc: dict[str, Any], where: str) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for name, t in sorted(doc["templates"].items()):
        w = f"{where}: templates.{name}"
        out[name] = Template(
            name=name,
            kind=str(_req(t, "kind", w)),
            slo={k: float(v) for k, v in sorted(_req(t, "slo", w).items())},
            prompt_tokens=int(_req(t, "prompt_tokens", w)),
            output_tokens=int(_req(t, "output_tokens", w)),
            models=tuple(str(m) for m in _req(t, "models", w)),
            stack={k: dict(v) for k, v in sorted((t.get("stack") or {}).items())},
        )
    return out


@functools.lru_cache(maxsize=8)
def load_catalog(data_dir: str | None = None) -> Catalog:
    """Read and cross-check all data files in ``data_dir`` (default: the shipped ``data/``)."""
    base = Path(data_dir) if data_dir else DATA_DIR
    docs = {f: _read(base / f) for f in (GPUS_FILE, MODELS_FILE, BENCHMARKS_FILE, TEMPLATES_FILE)}
    gpus, nodes = _load_gpus(docs[GPUS_FILE], GPUS_FILE)
    models = _load_models(docs[MODELS_FILE], MODELS_FILE)
    tables, ceilings = _load_benchmarks(docs[BENCHMARKS_FILE], BENCHMARKS_FILE)
    templates = _load_templates(docs[TEMPLATES_FILE], TEMPLATES_FILE)
    sources: dict[str, str] = {}
    for _fname, doc in sorted(docs.items()):
        for s in doc["sources"]:
            sources[str(s["id"])] = str(s.get("url", s.get("title", "")))
    # Cross-references must resolve, or provenance strings would point nowhere.
    for t in tables:
        for ref, pool, what in (
            (t.model, models, "model"),
            (t.gpu, gpus, "gpu"),
            (t.source, sources, "source"),
        ):
            if ref not in pool:
                raise CatalogError(f"{BENCHMARKS_FILE}: {t.id} references unknown {what} {ref!r}")
    for c in ceilings:
        if c.model not in models or c.gpu not in gpus or c.source not in sources:
            raise CatalogError(f"{BENCHMARKS_FILE}: ceiling {c.model}/{c.gpu} has a dangling reference")
    for g in gpus.values():
        if g.price.source not in sources or g.spec_source not in sources:
            raise CatalogError(f"{GPUS_FILE}: {g.name} cites an unknown source")
    for m in models.values():
        if m.source not in sources:
            raise CatalogError(f"{MODELS_FILE}: {m.name} cites an unknown source {m.source!r}")
    for tpl in templates.values():
        for name in tpl.models:
            if name not in models:
                raise CatalogError(f"{TEMPLATES_FILE}: {tpl.name} lists unknown model {name!r}")
    versions = {f: str(doc["data_version"]) for f, doc in sorted(docs.items())}
    return Catalog(
        gpus=gpus,
        cpu_nodes=nodes,
        models=models,
        latency_tables=tables,
        ceilings=ceilings,
        templates=templates,
        versions=versions,
        sources=sources,
    )
