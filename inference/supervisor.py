"""One supervisor for every child process the portal starts itself (tritonserver, Milvus Lite).

:class:`ManagedProcess` starts a command in its own session (so a terminal Ctrl-C reaches only
the parent, which then stops the child in order), waits until the subclass's readiness probe
answers, and stops the whole process group (SIGTERM, then SIGKILL), so helper processes the
child forked (Triton's python-backend stubs) go with it. Subclasses say *what* to run
(:meth:`command`, :meth:`process_env`, :meth:`ready_once`) and may hook :meth:`before_start`
and :meth:`after_stop` (locks, assembled directories); the lifecycle lives only here.

Invariants: ``stop()`` is idempotent and leaves no process of the group behind; a process that
exits during start-up raises :attr:`error_class` with the log tail; with ``die_with_parent`` the
child gets ``PR_SET_PDEATHSIG`` = SIGKILL on Linux, so a SIGKILLed parent leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "INHERITED_ENV",
    "ManagedProcess",
    "ProcessStartError",
    "become_child_subreaper",
    "pdeathsig_preexec",
    "scrubbed_environ",
]

#: The only variables a child inherits from the portal's environment. Everything else (secret
#: keys, database URLs, cloud credentials) stays out: tenant-supplied model code runs in these
#: processes and must not be able to read the portal's secrets.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def scrubbed_environ(**extra: str) -> dict[str, str]:
    """A child's environment: :data:`INHERITED_ENV` from ours, plus ``extra``."""
    env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
    env.update(extra)
    return env


class ProcessStartError(RuntimeError):
    """The process could not be started, or did not become ready in time; carries the log tail."""


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    return ctypes.CDLL(libc_name, use_errno=True).prctl


def become_child_subreaper() -> bool:
    """Make this process the *subreaper* of its descendants (Linux; False elsewhere).

    A grandchild whose parent dies (tritonserver started by a Celery pool process that exited)
    is then re-parented to us instead of PID 1, so a supervisor such as ``make run`` can still
    find it among its own descendants and stop it on the way out.
    """
    prctl = _libc_prctl()
    return prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def pdeathsig_preexec(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec_fn that sends ``sig`` to the child when its parent dies, or None off Linux.

    The libc handle is resolved *before* fork so the child only makes one call. Caveat
    (prctl(2)): the signal fires when the *thread* that forked exits, so start long-lived
    children from a long-lived thread (normally the main thread).
    """
    prctl = _libc_prctl()
    if prctl is None:
        return None

    def _set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _set_pdeathsig


class ManagedProcess:
    """Base class: one supervised child process and its process group. Usable as a context
    manager (start + wait_ready, then stop)."""

    error_class: type[ProcessStartError] = ProcessStartError
    #: What the process is called in messages ("tritonserver", "milvus lite").
    display_name = "process"
    ready_timeout: float = 60.0
    ready_poll_s: float = 0.2
    die_with_parent = False

    def __init__(self, *, log_path: Path | None = None, cwd: Path | None = None) -> None:
        self.log_path = log_path
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifecycle = threading.Lock()

    # -- what to run (subclasses) ------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def process_env(self) -> dict[str, str]:
        """The child's environment; never the portal's own (see :data:`INHERITED_ENV`)."""
        return scrubbed_environ()

    def ready_once(self) -> bool:
        """One readiness probe; False (or an exception) means "not yet"."""
        raise NotImplementedError

    def before_start(self) -> None:
        """Prepare what the command needs (directories, locks); raise error_class to refuse."""

    def after_stop(self) -> None:
        """Release what :meth:`before_start` took; also runs when the start failed."""

    # -- state -------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the process and return at once (call :meth:`wait_ready`)."""
        with self._lifecycle:
            if self._proc is not None:
                raise self.error_class(f"{self.display_name} already started")
            self.before_start()
            try:
                if self.log_path is not None:
                    self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.ExitStack() as stack:
                    log = stack.enter_context(open(self.log_path, "ab")) if self.log_path is not None else None
                    # The child keeps its own copy of the log descriptor; ours closes right away.
                    self._proc = subprocess.Popen(
                        self.command(),
                        env=self.process_env(),
                        cwd=str(self.cwd) if self.cwd is not None else None,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT if log is not None else None,
                        start_new_session=True,
                        preexec_fn=pdeathsig_preexec() if self.die_with_parent else None,
                    )
            except BaseException:
                self.after_stop()
                raise

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until :meth:`ready_once` answers True; raise :attr:`error_class` otherwise."""
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None:
                raise self.error_class(f"{self.display_name} not started")
            if proc.poll() is not None:
                raise self.error_class(
                    f"{self.display_name} exited with status {proc.returncode} during start-up\n{self.log_tail()}".rstrip()
                )
            try:
                if self.ready_once():
                    return
            except Exception as exc:  # any failure just means "not yet"
                last_error = exc
            time.sleep(self.ready_poll_s)
        detail = f" (last error: {last_error})" if last_error is not None else ""
        raise self.error_class(f"{self.display_name} not ready after {limit:g}s{detail}\n{self.log_tail()}".rstrip())

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout``, reap; idempotent."""
        with self._lifecycle:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(timeout=10.0)
                # Helpers the child forked share its group; none may outlive a child that exited.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            self.after_stop()

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
