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
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from inference.triton.builtin import E5_FILES, E5_NAME, MINILM_MODEL_PY, MINILM_NAME
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
    "StagedArtifact",
    "artifact_digest",
    "artifact_staged",
    "builtin_artifact_digest",
    "builtin_artifact_source",
    "load_version",
    "local_server_ensure",
    "local_server_status",
    "local_server_stop",
    "local_servers_stop_started",
    "model_error_text",
    "unload_model",
]

# builtin:<name> artifact URIs -> the file(s) the portal ships for them, by their name in the
# version directory. One file is staged as the version's artifact name; several, as they are named.
BUILTIN_ARTIFACTS: dict[str, dict[str, Path]] = {
    MINILM_NAME: {"model.py": MINILM_MODEL_PY},
    E5_NAME: dict(E5_FILES),
}


def builtin_artifact_source(name: str) -> Path | dict[str, Path]:
    """What :func:`artifact_staged` copies for ``builtin:<name>``: its one file, or its files by
    name. KeyError for an unknown name."""
    files = BUILTIN_ARTIFACTS[name]
    return next(iter(files.values())) if len(files) == 1 else dict(files)


def builtin_artifact_digest(name: str) -> tuple[int, str]:
    """(size, sha256) of ``builtin:<name>`` as :func:`artifact_staged` will compute it."""
    source = builtin_artifact_source(name)
    return artifact_digest(source) if isinstance(source, Path) else _files_digest(source)


class ArtifactError(Exception):
    """The version's artifact cannot be put into the repository (missing, not local, unsafe, not
    approved). Its text is shown to the tenant: it never names server paths."""


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
            die_with_parent=True,
        )


# -- server lifecycle -----------------------------------------------------------------------------

_lock = threading.Lock()
_started: dict[Path, TritonServer] = {}  # servers this process started, by pid file


def local_servers_stop_started() -> int:
    """Stop every server *this process* started (and remove its pid file); the number stopped.

    Runs at interpreter exit, and from the Celery worker's process-shutdown signal
    (models_registry.apps): a prefork pool process leaves through ``os._exit``, which skips
    ``atexit``, and a tritonserver it started must not outlive it.
    """
    stopped = 0
    with _lock:
        started = list(_started.items())
        _started.clear()
    for pid_file, server in started:
        with contextlib.suppress(Exception):
            if server.is_running():
                stopped += 1
            server.stop()
        with contextlib.suppress(OSError):
            pid_file.unlink()
    return stopped


atexit.register(local_servers_stop_started)


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

# Limits of one artifact copied into the repository (callers pass the operator's settings).
DEFAULT_MAX_ARTIFACT_BYTES = 2 * 1024**3
DEFAULT_MAX_ARTIFACT_FILES = 1000


def _file_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _tree_digest(entries: list[tuple[str, str]]) -> str:
    """Digest of a directory artifact from ``(relative posix path, file sha256)`` pairs.

    Each file contributes ``<relative path>\0<sha256>\n``, in the order of the paths' parts,
    so the digest names every file and its content and nothing else (no times, no modes).
    """
    h = hashlib.sha256()
    for rel, digest in sorted(entries, key=lambda e: PurePosixPath(e[0]).parts):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def artifact_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file; for a directory, of its files (see ``_tree_digest``),
    size being the total. For files the portal ships (built-in models); tenant artifacts are
    hashed while they are copied (:func:`artifact_staged`)."""
    path = Path(path)
    if path.is_file():
        return _file_digest(path)
    if path.is_dir():
        return _files_digest({q.relative_to(path).as_posix(): q for q in path.rglob("*") if q.is_file()})
    raise ArtifactError(f"artifact {path.name} does not exist")


def _files_digest(files: Mapping[str, Path]) -> tuple[int, str]:
    """(total size, :func:`_tree_digest`) of files by their relative posix path."""
    entries, total = [], 0
    for rel, p in files.items():
        size, digest = _file_digest(p)
        total += size
        entries.append((rel, digest))
    return total, _tree_digest(entries)


@dataclass(frozen=True)
class StagedArtifact:
    """A private copy of an artifact: ``files`` for :func:`load_version`, and the size and sha256
    of exactly the bytes copied (a file's own sha256; a directory's :func:`_tree_digest`)."""

    files: dict[str, Path]
    size: int
    sha256: str


class _Budget:
    def __init__(self, max_bytes: int, max_files: int) -> None:
        self.bytes_left, self.files_left = max_bytes, max_files
        self.max_bytes, self.max_files = max_bytes, max_files

    def take(self, *, nbytes: int = 0, files: int = 0) -> None:
        self.bytes_left -= nbytes
        self.files_left -= files
        if self.bytes_left < 0:
            raise ArtifactError(f"the artifact is larger than the limit of {self.max_bytes} bytes")
        if self.files_left < 0:
            raise ArtifactError(f"the artifact has more than the limit of {self.max_files} files and directories")


def _copy_hashing(src: Path, dest: Path, budget: _Budget) -> tuple[int, str]:
    # O_NOFOLLOW: a symbolic link swapped in after the caller checked the path is refused, not read.
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise ArtifactError("an artifact file cannot be read (missing, or a symbolic link)") from None
    h = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ArtifactError("the artifact contains something other than regular files")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "xb") as out:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                budget.take(nbytes=len(chunk))
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
    return size, h.hexdigest()


def _stage(source: Path | Mapping[str, Path], name: str, staging: Path, budget: _Budget) -> StagedArtifact:
    if isinstance(source, Mapping):  # named files from different places (a built-in model's)
        budget.take(files=len(source))
        return _stage_files({rel: Path(path) for rel, path in source.items()}, staging, budget)
    try:
        mode = os.lstat(source).st_mode
    except OSError:
        raise ArtifactError("the artifact does not exist") from None
    if stat.S_ISREG(mode):
        budget.take(files=1)
        size, digest = _copy_hashing(source, staging / name, budget)
        return StagedArtifact({name: staging / name}, size, digest)
    if not stat.S_ISDIR(mode):
        raise ArtifactError("the artifact is neither a regular file nor a directory")
    rels: list[str] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        here = Path(dirpath)
        for entry in (*dirnames, *filenames):
            budget.take(files=1)  # directories count too: an empty but endless tree stops here
            entry_mode = os.lstat(here / entry).st_mode
            if stat.S_ISLNK(entry_mode):
                raise ArtifactError("the artifact directory contains a symbolic link")
            if not (stat.S_ISDIR(entry_mode) or stat.S_ISREG(entry_mode)):
                raise ArtifactError("the artifact directory contains something other than files and directories")
        for entry in filenames:
            rels.append((here / entry).relative_to(source).as_posix())
    return _stage_files({rel: source / rel for rel in rels}, staging, budget)


def _stage_files(files: Mapping[str, Path], staging: Path, budget: _Budget) -> StagedArtifact:
    """Copy each file to ``staging/<relative path>``, hashing it; the digest is the tree's."""
    entries, total = [], 0
    for rel, src in files.items():
        size, digest = _copy_hashing(src, staging / rel, budget)
        total += size
        entries.append((rel, digest))
    tops = sorted({PurePosixPath(rel).parts[0] for rel in files})
    return StagedArtifact({top: staging / top for top in tops}, total, _tree_digest(entries))


@contextlib.contextmanager
def artifact_staged(
    source: Path | Mapping[str, Path],
    *,
    name: str,
    within: Path,
    max_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    max_files: int = DEFAULT_MAX_ARTIFACT_FILES,
) -> Iterator[StagedArtifact]:
    """Copy the artifact at ``source`` into a private directory under ``within``, hashing it.

    A file is placed as ``name``; named files (a mapping) under their names, hashed as a directory
    holding them; a directory's tree is copied as it is (symbolic links and
    special files are refused, never followed). Whatever is checked against the digest (an
    operator's approval, the digest recorded at registration) is then exactly what
    :func:`load_version` writes into the repository, even if the source changes meanwhile.
    The copy stops at ``max_bytes`` / ``max_files`` (:class:`ArtifactError`). Error texts never
    name the server's paths nor list a directory's content: a tenant may read them.
    """
    within = Path(within)
    within.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".artifact-", dir=within))
    try:
        src = source if isinstance(source, Mapping) else Path(source)
        yield _stage(src, name, staging, _Budget(max_bytes, max_files))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
        # file not found") and load_model blocks until the client times out (measured). The
        # artifact's own file names are not listed: they are not the tenant's to read.
        return LoadOutcome(False, "python backend needs a model.py at the top of the artifact; this artifact has none")
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
