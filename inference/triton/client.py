"""Admin client for a Triton server over HTTP or gRPC (``tritonclient``), with two error kinds.

- :class:`TritonUnavailable`: the server cannot be reached right now (connection refused, timeout,
  gRPC UNAVAILABLE/DEADLINE_EXCEEDED). Transient: retry later.
- :class:`TritonModelError`: the server answered and refused (load failed, unknown model, bad
  config). ``reason`` carries Triton's own message. Retrying the same call will not help.

Thread-safety: ``tritonclient.http`` runs on gevent and a client must only be used from the thread
that created it (``cannot switch to a different thread``), so HTTP clients are kept per thread in a
``threading.local`` (:class:`TritonClients`, also used by ``inference.embedding``). The gRPC
client is thread-safe for unary calls and is shared.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import threading
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from tritonclient.utils import InferenceServerException

__all__ = [
    "MetricSample",
    "ModelStatistics",
    "RepositoryModel",
    "TritonAdmin",
    "TritonClients",
    "TritonError",
    "TritonModelError",
    "TritonUnavailable",
    "fetch_metrics",
    "metric_value",
    "parse_triton_url",
]

T = TypeVar("T")


class TritonError(Exception):
    """Base class for errors talking to Triton."""


class TritonUnavailable(TritonError):
    """Transient: Triton could not be reached (refused, timed out, unavailable)."""


class TritonModelError(TritonError):
    """Permanent for this request: Triton answered with an error; ``reason`` is Triton's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_TRANSIENT_GRPC = {"StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.CANCELLED"}
_TRANSIENT_HTTP = {"502", "503", "504"}


def parse_triton_url(url: str) -> tuple[Literal["http", "grpc"], str]:
    """``http://host:port`` / ``grpc://host:port`` -> (protocol, ``host:port``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "grpc") or not parts.hostname or parts.port is None:
        raise ValueError(f"Triton URL must look like http://host:port or grpc://host:port, got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, f"{host}:{parts.port}"  # type: ignore[return-value]


def classify_exception(e: BaseException) -> TritonError:
    """Map a tritonclient/transport exception to :class:`TritonUnavailable` or :class:`TritonModelError`."""
    if isinstance(e, TritonError):
        return e
    if isinstance(e, InferenceServerException):
        status = str(e.status() or "")
        msg = e.message() or str(e)
        if status in _TRANSIENT_GRPC or status in _TRANSIENT_HTTP:
            return TritonUnavailable(f"{status}: {msg}")
        return TritonModelError(msg)
    # OSError covers ConnectionRefusedError, socket.timeout and gevent's socket errors.
    return TritonUnavailable(f"{type(e).__name__}: {e}")


def _transport_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [InferenceServerException, OSError]
    try:  # gevent.Timeout derives from BaseException, not Exception
        from gevent import Timeout as GeventTimeout

        errs.append(GeventTimeout)
    except ImportError:  # pragma: no cover - gevent ships with tritonclient[http]
        pass
    return tuple(errs)


TRANSPORT_ERRORS = _transport_errors()


@dataclass(frozen=True)
class RepositoryModel:
    """One row of the repository index: every model dir appears, loaded or not."""

    name: str
    version: str
    state: str  # READY, UNAVAILABLE, LOADING, UNLOADING, or "" when never loaded
    reason: str


@dataclass(frozen=True)
class ModelStatistics:
    """Cumulative counters since load, summed over versions. Durations are averages in µs."""

    name: str
    inference_count: int  # inferences (rows): a batch of 8 counts 8
    execution_count: int  # model executions (batches)
    success_count: int  # successful requests
    fail_count: int
    avg_queue_us: float
    avg_compute_us: float  # compute_input + compute_infer + compute_output per request


# Process-wide caches keep TritonClients alive until exit; close their gRPC channels at exit,
# while the grpc module still exists, instead of in __del__ during interpreter teardown (where
# tritonclient prints "AttributeError: 'NoneType' object has no attribute 'StatusCode'").
_OPEN_CLIENTS: weakref.WeakSet[TritonClients] = weakref.WeakSet()


@atexit.register
def _close_open_clients() -> None:
    for clients in list(_OPEN_CLIENTS):
        with contextlib.suppress(Exception):
            clients.close()


class TritonClients:
    """The tritonclient client(s) for one Triton URL: one HTTP client per thread, one shared gRPC.

    ``tritonclient.http`` runs on gevent and a client must only be used from the thread that
    created it, so HTTP clients live in a ``threading.local``; the gRPC client is thread-safe for
    unary calls. Raises ``ValueError`` (from :func:`parse_triton_url`) for a malformed URL.
    """

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.protocol, self.address = parse_triton_url(url)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._grpc: Any = None
        self._lock = threading.Lock()
        _OPEN_CLIENTS.add(self)

    def get(self) -> Any:
        """The client for the calling thread (HTTP) or the shared one (gRPC), created on first use."""
        if self.protocol == "grpc":
            with self._lock:
                if self._grpc is None:
                    import tritonclient.grpc as tg

                    self._grpc = tg.InferenceServerClient(self.address)
                return self._grpc
        c = getattr(self._local, "client", None)
        if c is None:
            import tritonclient.http as th

            c = th.InferenceServerClient(
                self.address, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
            )
            self._local.client = c
        return c

    def close(self) -> None:
        """Close the calling thread's HTTP client and the shared gRPC client (they reopen on use)."""
        c = getattr(self._local, "client", None)
        if c is not None:
            c.close()
            self._local.client = None
        with self._lock:
            if self._grpc is not None:
                self._grpc.close()
                self._grpc = None


class TritonAdmin:
    """Server/model administration for one Triton endpoint (``http://`` or ``grpc://``)."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self._clients = TritonClients(url, timeout_s=timeout_s)
        self.url = url
        self.protocol, self.address = self._clients.protocol, self._clients.address
        self.timeout_s = timeout_s

    # -- clients ---------------------------------------------------------------------------
    def client(self) -> Any:
        """The tritonclient client for the calling thread (HTTP) or the shared one (gRPC)."""
        return self._clients.get()

    def _call(self, fn: Callable[[Any], T]) -> T:
        try:
            return fn(self.client())
        except TRANSPORT_ERRORS as e:
            raise classify_exception(e) from e

    def _grpc_kw(self) -> dict[str, Any]:
        return {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

    def close(self) -> None:
        self._clients.close()

    # -- server ----------------------------------------------------------------------------
    def server_ready(self) -> bool:
        """True if the server answers ready; False if it is unreachable or not ready (never raises)."""
        try:
            return bool(self._call(lambda c: c.is_server_ready()))
        except TritonError:
            return False

    def repository_index(self) -> list[RepositoryModel]:
        def call(c: Any) -> Any:
            if self.protocol == "grpc":
                return c.get_model_repository_index(as_json=True).get("models", [])
            return c.get_model_repository_index()

        rows = self._call(call)
        return [
            RepositoryModel(
                name=r.get("name", ""),
                version=str(r.get("version", "")),
                state=r.get("state", ""),
                reason=r.get("reason", ""),
            )
            for r in rows
        ]

    # -- models ----------------------------------------------------------------------------
    def load_model(self, name: str, config_json: str | None = None) -> None:
        """Load (or reload) ``name``; blocks until loaded. ``config_json`` overrides config.pbtxt.

        Raises :class:`TritonModelError` with Triton's reason when the load fails.
        """
        if config_json is not None:
            json.loads(config_json)  # fail fast, locally, on malformed JSON
        self._call(lambda c: c.load_model(name, config=config_json, **self._grpc_kw()))

    def unload_model(self, name: str, *, wait_s: float = 0.0) -> None:
        """Ask Triton to unload ``name``; with ``wait_s`` > 0 also wait until it is no longer ready."""
        import time

        self._call(lambda c: c.unload_model(name, **self._grpc_kw()))
        deadline = time.monotonic() + wait_s
        while wait_s > 0 and time.monotonic() < deadline and self.model_ready(name):
            time.sleep(0.1)

    def model_ready(self, name: str, version: str = "") -> bool:
        return bool(self._call(lambda c: c.is_model_ready(name, version)))

    def model_config(self, name: str, version: str = "") -> dict[str, Any]:
        """The effective model config as a dict (proto field names)."""

        def call(c: Any) -> Any:
            if self.protocol == "grpc":
                return c.get_model_config(name, version, as_json=True)["config"]
            return c.get_model_config(name, version)

        return dict(self._call(call))

    def model_statistics(self, name: str) -> ModelStatistics:
        def call(c: Any) -> Any:
            if self.protocol == "grpc":
                return c.get_inference_statistics(name, as_json=True)
            return c.get_inference_statistics(name)

        data = self._call(call)
        stats = [s for s in data.get("model_stats", []) if s.get("name") == name]
        if not stats:
            raise TritonModelError(f"no statistics for model {name!r}")

        def total(key: str, part: str) -> int:
            # gRPC's JSON renders uint64 as strings; HTTP returns ints.
            return sum(int(s.get("inference_stats", {}).get(key, {}).get(part, 0) or 0) for s in stats)

        success = total("success", "count")
        compute_ns = sum(total(k, "ns") for k in ("compute_input", "compute_infer", "compute_output"))
        return ModelStatistics(
            name=name,
            inference_count=sum(int(s.get("inference_count", 0) or 0) for s in stats),
            execution_count=sum(int(s.get("execution_count", 0) or 0) for s in stats),
            success_count=success,
            fail_count=total("fail", "count"),
            avg_queue_us=(total("queue", "ns") / success / 1000.0) if success else 0.0,
            avg_compute_us=(compute_ns / success / 1000.0) if success else 0.0,
        )


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: dict[str, str]
    value: float


def fetch_metrics(metrics_url: str, *, timeout_s: float = 10.0) -> dict[str, list[MetricSample]]:
    """GET Triton's Prometheus endpoint (``http://host:8002/metrics``) and parse it.

    Returns ``{sample name: [MetricSample, ...]}``, e.g. ``nv_inference_count``,
    ``nv_inference_request_success``, ``nv_inference_request_duration_us``,
    ``nv_inference_queue_duration_us`` (labels ``model``, ``version``). Counters keep their
    exposition names (the parser's ``_total`` suffix is dropped again). Raises :class:`TritonUnavailable`.
    """
    from prometheus_client.parser import text_string_to_metric_families

    if urlsplit(metrics_url).scheme not in ("http", "https"):
        raise ValueError(f"metrics URL must be http(s)://..., got {metrics_url!r}")
    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout_s) as resp:  # noqa: S310 (scheme checked)
            text = resp.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as e:
        raise TritonUnavailable(f"metrics endpoint {metrics_url} unreachable: {e}") from e
    out: dict[str, list[MetricSample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            # The parser renames counter samples to "<family>_total"; Triton exposes them without
            # the suffix, so key counters by the family (= exposition) name.
            name = family.name if family.type == "counter" and s.name == f"{family.name}_total" else s.name
            out.setdefault(name, []).append(MetricSample(name, dict(s.labels), float(s.value)))
    return out


def metric_value(metrics: dict[str, list[MetricSample]], name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels`` (0.0 if none)."""
    return sum(s.value for s in metrics.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))
