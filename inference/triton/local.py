"""The portal's local tritonserver: start/stop it, write registry versions into its repository,
load/unload them, and read its health and statistics. No database access here (services.py owns
the status rows); configuration comes in as a :class:`LocalTritonConfig`.

Process model: whichever process calls :func:`local_server_ensure` first (a Celery worker on the
``deploy`` queue, or a dev command) starts ``tritonserver`` in its own process group and writes
``<workdir>/tritonserver.pid``. Any process can then reach it by its ports, and
:func:`local_server_stop` can stop it from any process through the pid file (it checks that the
pid really is a tritonserver serving this repository before signalling it).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.triton.builtin import MINILM_MODEL_PY
from inference.triton.client import (
    ModelStatistics,
    RepositoryModel,
    TritonAdmin,
    TritonError,
    TritonModelError,
    TritonUnavailable,
    fetch_metrics,
    metric_value,
)
from inference.triton.repository import TritonModelSpec, write_model_entry
from inference.triton.server import LoopbackTritonURLs, TritonServer, TritonStartError

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_ARTIFACTS",
    "ArtifactError",
    "LoadOutcome",
    "LocalTritonConfig",
    "ServerStatus",
    "artifact_digest",
    "load_version",
    "local_server_ensure",
    "local_server_status",
    "local_server_stop",
    "model_error_text",
    "unload_model",
]

# builtin:<name> artifact URIs -> the file(s) the portal ships for them.
BUILTIN_ARTIFACTS: dict[str, dict[str, Path]] = {"minilm": {"model.py": MINILM_MODEL_PY}}


class ArtifactError(Exception):
    """The version's artifact cannot be put into the repository (missing, not local, unsafe)."""


@dataclass(frozen=True)
class LocalTritonConfig(LoopbackTritonURLs):
    """Where the local server lives. ``workdir`` holds the backend dir, the log and the pid file."""

    repository: Path
    workdir: Path
    http_port: int
    grpc_port: int
    metrics_port: int
    python_executable: str = sys.executable
    start_timeout_s: float = 90.0

    @property
    def pid_file(self) -> Path:
        return self.workdir / "tritonserver.pid"

    def server(self) -> TritonServer:
        return TritonServer(
            self.repository,
            workdir=self.workdir,
            http_port=self.http_port,
            grpc_port=self.grpc_port,
            metrics_port=self.metrics_port,
            python_executable=self.python_executable,
            ready_timeout=self.start_timeout_s,
            extra_args=("--metrics-config=summary_latencies=true",),
        )


# -- server lifecycle -----------------------------------------------------------------------------

_lock = threading.Lock()
_started: dict[Path, TritonServer] = {}  # servers this process started, by pid file


def _stop_started_at_exit() -> None:
    for server in list(_started.values()):
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_started_at_exit)


def local_server_ensure(config: LocalTritonConfig) -> TritonAdmin:
    """Return an admin client for a ready local server, starting one if nothing answers.

    Raises :class:`TritonStartError` (with the server's log tail) if it cannot start. A server
    already answering on the configured HTTP port is reused as is, whoever started it.
    """
    admin = TritonAdmin(config.http_url)
    if admin.server_ready():
        return admin
    with _lock:
        if admin.server_ready():
            return admin
        server = _started.get(config.pid_file)
        if server is None or not server.is_running():
            server = config.server()
            server.start()
            _started[config.pid_file] = server
            config.pid_file.write_text(f"{server.pid}\n")
        try:
            server.wait_ready(config.start_timeout_s)
        except TritonStartError:
            server.stop()
            _started.pop(config.pid_file, None)
            with contextlib.suppress(OSError):
                config.pid_file.unlink()
            raise
    return admin


def _pid_is_our_server(pid: int, config: LocalTritonConfig) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    return bool(args) and args[0].endswith("tritonserver") and f"--model-repository={config.repository}" in args


def local_server_stop(config: LocalTritonConfig, *, timeout_s: float = 15.0) -> bool:
    """Stop the local server (started by this or another process); True if one was stopped."""
    with _lock:
        server = _started.pop(config.pid_file, None)
        if server is not None and server.is_running():
            server.stop(timeout=timeout_s)
            with contextlib.suppress(OSError):
                config.pid_file.unlink()
            return True
        try:
            pid = int(config.pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        if not _pid_is_our_server(pid, config):
            with contextlib.suppress(OSError):
                config.pid_file.unlink()
            return False
        # The server leads its own process group (start_new_session): signal the group so the
        # python-backend stubs go with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _pid_is_our_server(pid, config):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            config.pid_file.unlink()
        return True


# -- artifacts ------------------------------------------------------------------------------------


def _file_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def artifact_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file; for a directory, of its files in path order
    (each contributing ``<relative path>\\0<sha256>\\n``), size being the total."""
    path = Path(path)
    if path.is_file():
        return _file_digest(path)
    if path.is_dir():
        h = hashlib.sha256()
        total = 0
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            size, digest = _file_digest(p)
            total += size
            h.update(f"{p.relative_to(path).as_posix()}\0{digest}\n".encode())
        return total, h.hexdigest()
    raise ArtifactError(f"artifact {path} does not exist")


def local_path_for_uri(uri: str) -> Path | None:
    """``file:///x`` or ``/x`` -> Path; anything else (s3://, builtin:, http://) -> None."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    if uri.startswith("/"):
        return Path(uri)
    return None


def artifact_files(*, artifact_path: Path | None, artifact_uri: str, artifact_name: str) -> dict[str, bytes | Path]:
    """Files to place in ``<model>/<version>/`` for a version, or :class:`ArtifactError`.

    ``artifact_path``: the stored upload (placed as ``artifact_name``); else ``artifact_uri``:
    ``builtin:<name>``, or a local file (placed as ``artifact_name``) or directory (its contents).
    """
    if artifact_path is not None:
        if not artifact_path.is_file():
            raise ArtifactError(f"the uploaded artifact file {artifact_path.name} is missing from storage")
        return {artifact_name: artifact_path}
    if artifact_uri.startswith("builtin:"):
        files = BUILTIN_ARTIFACTS.get(artifact_uri.removeprefix("builtin:"))
        if files is None:
            raise ArtifactError(f"unknown built-in model {artifact_uri!r} (known: {sorted(BUILTIN_ARTIFACTS)})")
        return dict(files)
    path = local_path_for_uri(artifact_uri)
    if path is None:
        raise ArtifactError(
            f"artifact {artifact_uri!r} is not on this machine; the local Triton target serves uploaded "
            "files, file:// paths and builtin: models"
        )
    if path.is_dir():
        return {p.name: p for p in sorted(path.iterdir())}
    if path.is_file():
        return {artifact_name: path}
    raise ArtifactError(f"artifact {path} does not exist")


# -- load / unload --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadOutcome:
    ok: bool
    reason: str = ""


_TRACEBACK = re.compile(r"\n\s*At:\s*\n.*", re.DOTALL)
_ABS_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:;'\"()]+/)+([^\s/:;'\"()]*)")
MAX_REASON_CHARS = 1000


def model_error_text(reason: str) -> str:
    """Triton's load error as a tenant may see it: the model's own message, without the python
    backend's traceback (``At: <path>(line)``) and with server paths cut to their last part.

    The whole text still goes to the log for operators; a tenant learns nothing of the server's
    file layout from it.
    """
    text = _TRACEBACK.sub("", reason).strip().rstrip(";").strip()
    text = _ABS_PATH.sub(lambda m: m.group(1) or "/", text)
    return text[:MAX_REASON_CHARS]


def _index_reason(admin: TritonAdmin, name: str) -> str:
    with contextlib.suppress(TritonError):
        for row in admin.repository_index():
            if row.name == name and row.reason:
                return f"{row.state}: {row.reason}"
    return ""


def load_version(
    admin: TritonAdmin, *, repository: Path, spec: TritonModelSpec, version: int, files: Mapping[str, bytes | Path]
) -> LoadOutcome:
    """Write the entry (config + ``<version>/`` files), load it, and check readiness.

    Returns a failed :class:`LoadOutcome` with Triton's reason when Triton refuses the model;
    raises :class:`TritonUnavailable` when the server cannot be reached (transient: retry).
    """
    if spec.backend == "python" and "model.py" not in files:
        # Triton 2.51 never answers such a load: the stub fails to pre-initialise ("Python model
        # file not found") and load_model blocks until the client times out (measured).
        return LoadOutcome(
            False, f"python backend needs a model.py in {spec.name}/{version}/; the artifact provides {sorted(files)}"
        )
    write_model_entry(repository, spec, version, files)
    try:
        admin.load_model(spec.name)
    except TritonModelError as exc:
        logger.warning("Triton refused %s v%s: %s", spec.name, version, exc.reason)
        return LoadOutcome(False, model_error_text(exc.reason or _index_reason(admin, spec.name)) or "load failed")
    if not admin.model_ready(spec.name, str(version)):
        reason = model_error_text(_index_reason(admin, spec.name)) or f"{spec.name} v{version} is not ready after load"
        return LoadOutcome(False, reason)
    if not admin.server_ready():
        raise TritonUnavailable("the server stopped answering ready after the load")
    return LoadOutcome(True)


def unload_model(admin: TritonAdmin, name: str, *, wait_s: float = 10.0) -> None:
    """Unload ``name``; a model Triton does not know is already unloaded (no error)."""
    with contextlib.suppress(TritonModelError):
        admin.unload_model(name, wait_s=wait_s)


# -- health and statistics ------------------------------------------------------------------------


@dataclass
class ModelServingStats:
    name: str
    version: str
    state: str
    reason: str
    inference_count: int = 0
    execution_count: int = 0
    success_count: int = 0
    fail_count: int = 0
    avg_request_ms: float | None = None  # end-to-end in the server, from /metrics
    avg_queue_ms: float | None = None
    avg_compute_ms: float | None = None


@dataclass
class ServerStatus:
    url: str
    ready: bool
    error: str = ""
    models: list[ModelServingStats] = field(default_factory=list)

    def by_name(self) -> dict[str, ModelServingStats]:
        return {m.name: m for m in self.models}


def _stats_row(row: RepositoryModel, stats: ModelStatistics | None, metrics: dict[str, Any]) -> ModelServingStats:
    out = ModelServingStats(row.name, row.version, row.state, row.reason)
    if stats is not None:
        out.inference_count = stats.inference_count
        out.execution_count = stats.execution_count
        out.success_count = stats.success_count
        out.fail_count = stats.fail_count
        out.avg_queue_ms = round(stats.avg_queue_us / 1000.0, 3) if stats.success_count else None
        out.avg_compute_ms = round(stats.avg_compute_us / 1000.0, 3) if stats.success_count else None
    if metrics:
        ok = metric_value(metrics, "nv_inference_request_success", model=row.name)
        dur = metric_value(metrics, "nv_inference_request_duration_us", model=row.name)
        out.avg_request_ms = round(dur / ok / 1000.0, 3) if ok else None
    return out


def local_server_status(admin: TritonAdmin, *, metrics_url: str = "") -> ServerStatus:
    """Readiness, the repository index, and per-model counters and latencies (never raises)."""
    status = ServerStatus(url=admin.url, ready=admin.server_ready())
    if not status.ready:
        status.error = "server not ready or unreachable"
        return status
    try:
        index = admin.repository_index()
    except TritonError as exc:
        status.error = str(exc)
        return status
    metrics: dict[str, Any] = {}
    if metrics_url:
        try:
            metrics = fetch_metrics(metrics_url, timeout_s=5.0)
        except (TritonUnavailable, ValueError) as exc:
            status.error = f"metrics: {exc}"
    for row in index:
        stats = None
        if row.state == "READY":
            with contextlib.suppress(TritonError):
                stats = admin.model_statistics(row.name)
        status.models.append(_stats_row(row, stats, metrics))
    return status
