"""Versioned on-disk artifact: a directory with ``model.npz`` (arrays) and ``meta.json``.

Invariants:

* No pickle anywhere: arrays are plain numeric or fixed-width unicode, read with
  ``np.load(allow_pickle=False)``; everything else is JSON.
* ``meta.json`` records ``format_version`` and the SHA-256 of ``model.npz``; loading checks both,
  plus every array shape, and raises :class:`ArtifactError` on any mismatch.
* Saving is atomic: files are written to a temporary sibling directory that is renamed into
  place, and an existing artifact directory is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.blend import HistoryConfig
from recommendations.engine.data import EventWeights
from recommendations.engine.errors import ArtifactError
from recommendations.engine.model import FORMAT_VERSION, ModelState, TrainedModel

ARRAYS = "model.npz"
META = "meta.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_artifact(model: TrainedModel, path: str | Path) -> Path:
    """Write ``model`` to the new directory ``path``; returns it. Raises ArtifactError if it exists."""
    target = Path(path)
    if target.exists():
        raise ArtifactError(f"artifact path already exists: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    st = model.state
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        arrays: dict[str, np.ndarray] = {
            "item_keys": np.asarray(st.item_keys, dtype=str),
            "popularity": st.popularity.astype(np.float32),
            "week_popularity": st.week_popularity.astype(np.float32),
            "category_week_rank": st.category_week_rank.astype(np.int32),
        }
        for name, mat in (("collab", st.collab), ("content", st.content)):
            arrays[f"{name}_data"] = mat.data.astype(np.float32)
            arrays[f"{name}_indices"] = mat.indices.astype(np.int32)
            arrays[f"{name}_indptr"] = mat.indptr.astype(np.int64)
        np.savez(tmp / ARRAYS, **arrays)
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "arrays_sha256": _sha256(tmp / ARRAYS),
            "n_items": st.n_items,
            "titles": st.titles,
            "categories": st.categories,
            "blend_weights": st.blend_weights,
            "event_weights": st.event_weights.to_dict(),
            "history": st.history.to_dict(),
            "context_weight": st.context_weight,
            "reference_time": st.reference_time,
            "reason_top_n": st.reason_top_n,
            "metrics": model.metrics,
            "params": model.params,
            "data_hash": model.data_hash,
            "timing": model.timing,
            "stats": model.stats,
        }
        (tmp / META).write_text(json.dumps(meta, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False))
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_meta(path: str | Path) -> dict[str, Any]:
    """The artifact's metadata without loading arrays (for listings and version checks)."""
    meta_path = Path(path) / META
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"no {META} in {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"corrupt {META} in {path}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise ArtifactError(f"unsupported artifact format version {version!r} (expected {FORMAT_VERSION})")
    return meta


def load_artifact(path: str | Path) -> TrainedModel:
    """Load and verify an artifact written by :func:`save_artifact`."""
    root = Path(path)
    meta = read_meta(root)
    arrays_path = root / ARRAYS
    if not arrays_path.is_file():
        raise ArtifactError(f"no {ARRAYS} in {root}")
    if _sha256(arrays_path) != meta.get("arrays_sha256"):
        raise ArtifactError(f"{ARRAYS} in {root} does not match the checksum in {META}")
    try:
        with np.load(arrays_path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        n = int(meta["n_items"])
        mats = {
            name: sp.csr_matrix(
                (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                shape=(n, n),
                dtype=np.float32,
            )
            for name in ("collab", "content")
        }
        state = ModelState(
            item_keys=arrays["item_keys"].astype(str),
            titles=list(meta["titles"]),
            categories=list(meta["categories"]),
            popularity=arrays["popularity"],
            week_popularity=arrays["week_popularity"],
            category_week_rank=arrays["category_week_rank"],
            collab=mats["collab"],
            content=mats["content"],
            blend_weights={k: float(v) for k, v in meta["blend_weights"].items()},
            event_weights=EventWeights.from_dict(meta["event_weights"]),
            history=HistoryConfig(**meta["history"]),
            context_weight=float(meta["context_weight"]),
            reference_time=float(meta["reference_time"]),
            reason_top_n=int(meta["reason_top_n"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ArtifactError(f"malformed artifact in {root}: {exc}") from exc
    per_item = (state.popularity, state.week_popularity, state.category_week_rank)
    if state.item_keys.shape != (n,) or any(a.shape != (n,) for a in per_item):
        raise ArtifactError(f"artifact arrays in {root} do not have {n} items")
    if len(state.titles) != n or len(state.categories) != n:
        raise ArtifactError(f"artifact metadata in {root} does not have {n} items")
    return TrainedModel(
        state=state,
        metrics=meta["metrics"],
        params=meta["params"],
        data_hash=str(meta["data_hash"]),
        timing={k: float(v) for k, v in meta["timing"].items()},
        stats={k: int(v) for k, v in meta["stats"].items()},
        format_version=int(meta["format_version"]),
    )
