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

``python -m inference.milvus_lite --db var/milvus.db --port 19530`` runs it in the foreground until
SIGTERM/SIGINT/SIGHUP, and exits non-zero if the engine dies on its own (so a supervisor notices).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import re
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import IO

from inference.supervisor import ManagedProcess, ProcessStartError, scrubbed_environ

logger = logging.getLogger(__name__)

# Rule enforced by milvus_lite.server.Server: the file *name* (not the path) must match this and
# be at most 36 characters, otherwise the engine refuses to start.
DB_NAME_RE = re.compile(r"^[a-zA-Z0-9.\-_]+$")
DB_NAME_MAX_LEN = 36

# POSIX record locks (lockf) are per process: a second lockf on the same file from this process
# succeeds, and closing any descriptor of it drops the lock. So servers started in this process
# are also tracked here.
_LOCKED_IN_PROCESS: set[Path] = set()
_LOCKED_GUARD = threading.Lock()


class LiteServerError(ProcessStartError):
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


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LiteServer(ManagedProcess):
    """One Milvus Lite 2.5.1 engine serving ``db_path`` over gRPC on ``host:port``.

    Usage::

        with LiteServer(Path("var/milvus.db"), port=19530) as server:
            ...  # clients use server.uri

    The lifecycle (start, wait_ready, stop, context manager) is
    :class:`inference.supervisor.ManagedProcess`; this class adds the file lock and the port check.
    """

    error_class = LiteServerError
    display_name = "milvus lite"
    ready_timeout = 30.0
    ready_poll_s = 0.1
    die_with_parent = True  # the engine keeps running (re-parented to PID 1) when its parent is SIGKILLed

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
        super().__init__(log_path=log_file, cwd=self.db_path.parent)
        self.host = host
        self.port = int(port)
        self.log_level = log_level
        self._lock_fd: IO[str] | None = None

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

    # -- supervisor hooks -------------------------------------------------------------------

    def command(self) -> list[str]:
        # Argument order is what milvus_lite.server.Server passes in TCP mode:
        # binary, db file, address, log level (no lock path: TCP mode ignores it).
        return [str(_milvus_lib_dir() / "milvus"), str(self.db_path), self.address, self.log_level]

    def process_env(self) -> dict[str, str]:
        # The binary needs its bundled libs first on the search path (as Server.start does), and
        # aborts (std::logic_error) without a HOME.
        return scrubbed_environ(
            LD_LIBRARY_PATH=f"{_milvus_lib_dir()}:{os.environ.get('LD_LIBRARY_PATH', '')}",
            HOME=str(self.db_path.parent),
        )

    def before_start(self) -> None:
        binary = _milvus_lib_dir() / "milvus"
        if not binary.exists():
            raise LiteServerError(f"milvus binary not found at {binary}")
        if port_is_open(self.host, self.port):
            # The engine would fail to bind, or worse we would talk to someone else's server.
            raise LiteServerError(f"port {self.address} is already in use")
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        logger.info("milvus lite serving %s on %s", self.db_path, self.address)

    def ready_once(self) -> bool:
        from pymilvus import MilvusClient

        if not port_is_open(self.host, self.port, timeout=0.2):
            return False
        client = MilvusClient(uri=self.uri, timeout=2.0, dedicated=True)
        try:
            client.list_collections(timeout=2.0)
        finally:
            client.close()
        return True

    def after_stop(self) -> None:
        """Release the lock. Acknowledged writes are durable before the RPC returns (the engine
        persists per request), so SIGTERM loses no data (shared notes 1.5 and this module's tests)."""
        self._release_lock()

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


def main(argv: list[str] | None = None) -> int:
    """Foreground entry point: serve until SIGTERM/SIGINT/SIGHUP, then stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m inference.milvus_lite", description=__doc__.splitlines()[0])
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
