"""Run the embedded Milvus Lite 2.5.1 engine as one loopback gRPC server.

Why a server at all: Milvus Lite opens its ``.db`` file with an exclusive lock, so the web
process(es) and the Celery worker cannot each open it (``Open local milvus failed``). Instead one
process owns the file and serves it on ``127.0.0.1:PORT``; every other process connects with
``uri="http://127.0.0.1:PORT"``, exactly as it would to a Milvus standalone in production.
See ``shared/notes/milvus-and-parsing.md`` section 1.5.

Invariants:

- At most one server per ``.db`` file: :meth:`LiteServer.start` takes the same ``fcntl.lockf``
  lock file that pymilvus' embedded mode uses (``.<name>.lock`` beside the file), so a second
  server, or a stray ``MilvusClient("x.db")``, fails fast instead of sharing the file.
- No orphan engine: the bundled ``milvus`` binary keeps running (re-parented to PID 1) when its
  parent is SIGKILLed, so the child is started with ``PR_SET_PDEATHSIG`` = SIGKILL on Linux and
  :meth:`LiteServer.stop` sends SIGTERM, then SIGKILL, and reaps it.
- The server listens on loopback only unless the caller explicitly passes another host.

``python -m portal.milvus_lite --db var/milvus.db --port 19530`` runs it in the foreground until
SIGTERM/SIGINT/SIGHUP, and exits non-zero if the engine dies on its own (so a supervisor notices).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

logger = logging.getLogger(__name__)

# Rule enforced by milvus_lite.server.Server: the file *name* (not the path) must match this and
# be at most 36 characters, otherwise the engine refuses to start.
DB_NAME_RE = re.compile(r"^[a-zA-Z0-9.\-_]+$")
DB_NAME_MAX_LEN = 36

_PR_SET_PDEATHSIG = 1

# POSIX record locks (lockf) are per process: a second lockf on the same file from this process
# succeeds, and closing any descriptor of it drops the lock. So servers started in this process
# are also tracked here.
_LOCKED_IN_PROCESS: set[Path] = set()
_LOCKED_GUARD = threading.Lock()


class LiteServerError(RuntimeError):
    """The Milvus Lite server could not be started, became unhealthy, or is misconfigured."""


def validate_db_path(db_path: Path) -> Path:
    """Return the absolute db path, or raise ``LiteServerError`` if Milvus Lite would reject it.

    Milvus Lite 2.5.1 only accepts file names matching ``^[a-zA-Z0-9.\\-_]+$`` of at most 36
    characters; the directory part is unrestricted. We check here so the error names the rule
    instead of surfacing as a failed engine start.
    """
    path = Path(db_path).expanduser().absolute()
    name = path.name
    if not DB_NAME_RE.fullmatch(name):
        raise LiteServerError(
            f"Milvus Lite db file name {name!r} is invalid: it must match {DB_NAME_RE.pattern} "
            "(letters, digits, '.', '-', '_'); put other characters in the directory instead"
        )
    if len(name) > DB_NAME_MAX_LEN:
        raise LiteServerError(
            f"Milvus Lite db file name {name!r} is {len(name)} characters; the limit is {DB_NAME_MAX_LEN}"
        )
    return path


def _milvus_lib_dir() -> Path:
    """Directory holding the bundled ``milvus`` binary and its shared libraries."""
    override = os.environ.get("BIN_PATH")  # same override milvus_lite.server honours
    if override:
        return Path(override).absolute()
    # Imported lazily: milvus_lite imports pkg_resources, which is slow and warns.
    import milvus_lite.server

    return Path(milvus_lite.server.BIN_PATH).absolute()


def _pdeathsig_preexec() -> Any:
    """Return a preexec_fn that makes the child die with its parent, or None off Linux.

    The libc handle is resolved *before* fork so the child only performs one syscall wrapper
    call (no imports, no allocation of note), which keeps preexec_fn's fork-safety caveat small.
    Caveat (prctl(2)): the signal fires when the *thread* that forked exits, so call
    :meth:`LiteServer.start` from a long-lived thread (normally the main thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl

    def _set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return _set_pdeathsig


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LiteServer:
    """One Milvus Lite 2.5.1 engine serving ``db_path`` over gRPC on ``host:port``.

    Usage::

        with LiteServer(Path("var/milvus.db"), port=19530) as server:
            ...  # clients use server.uri

    ``start()`` spawns the engine and returns; ``wait_ready()`` blocks until it answers gRPC.
    The context manager does both and always calls ``stop()``. ``stop()`` is idempotent.
    """

    def __init__(
        self,
        db_path: Path,
        host: str = "127.0.0.1",
        *,
        port: int,
        log_level: str = "ERROR",
        log_file: Path | None = None,
    ) -> None:
        self.db_path = validate_db_path(db_path)
        self.host = host
        self.port = int(port)
        self.log_level = log_level
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: IO[str] | None = None
        self._log_fh: IO[bytes] | None = None
        self._guard = threading.Lock()

    # -- properties ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        """The ``uri`` to give ``MilvusClient`` / ``VectorStore``."""
        return f"http://{self.address}"

    @property
    def lock_path(self) -> Path:
        # Same name pymilvus' embedded mode locks, so the two modes exclude each other.
        return self.db_path.parent / f".{self.db_path.name}.lock"

    @property
    def pid(self) -> int | None:
        """PID of the ``milvus`` engine process, if started."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the engine. Raises ``LiteServerError`` if the file is locked or the port taken."""
        with self._guard:
            if self._proc is not None:
                raise LiteServerError("server already started")
            bin_dir = _milvus_lib_dir()
            binary = bin_dir / "milvus"
            if not binary.exists():
                raise LiteServerError(f"milvus binary not found at {binary}")
            if port_is_open(self.host, self.port):
                # The engine would fail to bind, or worse we would talk to someone else's server.
                raise LiteServerError(f"port {self.address} is already in use")
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
            try:
                env = os.environ.copy()
                # The binary needs its bundled libs first on the search path (as Server.start does).
                env["LD_LIBRARY_PATH"] = f"{bin_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}"
                stdout: IO[bytes] | None = None
                if self.log_file is not None:
                    self.log_file.parent.mkdir(parents=True, exist_ok=True)
                    self._log_fh = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
                    stdout = self._log_fh
                # Argument order is what milvus_lite.server.Server passes in TCP mode:
                # binary, db file, address, log level (no lock path: TCP mode ignores it).
                self._proc = subprocess.Popen(
                    [str(binary), str(self.db_path), self.address, self.log_level],
                    env=env,
                    cwd=str(self.db_path.parent),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=subprocess.STDOUT if stdout is not None else None,
                    # Own session: a terminal Ctrl-C reaches only the wrapper, which then stops
                    # the engine in order; PDEATHSIG covers the wrapper being SIGKILLed.
                    start_new_session=True,
                    preexec_fn=_pdeathsig_preexec(),  # see _pdeathsig_preexec for the fork caveat
                )
            except BaseException:
                self._release_lock()
                self._close_log()
                raise
            logger.info("milvus lite pid=%s serving %s on %s", self._proc.pid, self.db_path, self.address)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the engine answers a gRPC call; raise ``LiteServerError`` on death/timeout."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None:
                raise LiteServerError("server not started")
            rc = proc.poll()
            if rc is not None:
                raise LiteServerError(f"milvus lite exited with status {rc} during start-up")
            if port_is_open(self.host, self.port, timeout=0.2):
                try:
                    client = MilvusClient(uri=self.uri, timeout=2.0, dedicated=True)
                    try:
                        client.list_collections(timeout=2.0)
                        return
                    finally:
                        client.close()
                except Exception as exc:  # any failure just means "not yet"
                    last_error = exc
            time.sleep(0.1)
        raise LiteServerError(f"milvus lite on {self.address} not ready after {timeout}s: {last_error}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the engine (SIGTERM, then SIGKILL after ``timeout``), reap it, release the lock.

        Acknowledged writes are durable before the RPC returns (the engine persists per request),
        so SIGTERM does not lose data; measured in shared notes 1.5 and in this module's tests.
        """
        with self._guard:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.terminate()
                    try:
                        proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        logger.warning("milvus lite pid=%s ignored SIGTERM; killing", proc.pid)
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                        proc.wait(timeout=10)
                else:
                    proc.wait()
            self._release_lock()
            self._close_log()

    def __enter__(self) -> LiteServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        busy = LiteServerError(f"{self.db_path} is already opened by another Milvus Lite server")
        with _LOCKED_GUARD:
            if self.db_path in _LOCKED_IN_PROCESS:
                raise busy
            fd = open(self.lock_path, "a")  # noqa: SIM115 - held until stop()
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                fd.close()
                raise busy from exc
            _LOCKED_IN_PROCESS.add(self.db_path)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        # Unlink while still holding the lock so a waiting starter never locks a stale inode.
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        fcntl.lockf(fd, fcntl.LOCK_UN)
        fd.close()
        with _LOCKED_GUARD:
            _LOCKED_IN_PROCESS.discard(self.db_path)

    def _close_log(self) -> None:
        fh, self._log_fh = self._log_fh, None
        if fh is not None:
            fh.close()


def main(argv: list[str] | None = None) -> int:
    """Foreground entry point: serve until SIGTERM/SIGINT/SIGHUP, then stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m portal.milvus_lite", description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("var/milvus.db"), help="db file (name <= 36 chars)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    parser.add_argument("--log-level", default="ERROR", help="engine log level (ERROR, WARNING, INFO)")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s milvus-lite %(levelname)s %(message)s")

    stop_requested = threading.Event()
    received: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    try:
        server = LiteServer(args.db, args.host, port=args.port, log_level=args.log_level)
        server.start()
    except LiteServerError as exc:
        logger.error("%s", exc)
        return 2
    try:
        server.wait_ready(args.ready_timeout)
        logger.info("ready: uri=%s db=%s pid=%s", server.uri, server.db_path, server.pid)
        while not stop_requested.wait(0.5):
            if not server.is_running():
                logger.error("milvus lite engine exited unexpectedly")
                return 1
        logger.info("signal %s received; stopping", received[0] if received else "?")
        return 0
    except LiteServerError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
