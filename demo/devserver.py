"""`make run`: the web server, a real Celery worker and (embedded default) a Milvus Lite server.

One foreground supervisor: Ctrl-C (or SIGTERM) stops all three, and everything they started.
Production runs each as its own process (gunicorn, `celery -A portal worker`, a Milvus server);
see README.

No process outlives the run: this process is the *child subreaper* of its tree, so a
tritonserver the worker started (its own process group) is re-parented here, not to PID 1, if
its parent exits first; after the three children stop, every descendant left is stopped too
(SIGTERM to its process group, SIGKILL after a grace period). The children also get
``PR_SET_PDEATHSIG`` = SIGTERM, so a SIGKILLed supervisor still takes them down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import django
import psutil

from inference.supervisor import become_child_subreaper, pdeathsig_preexec

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")
django.setup()

from django.conf import settings  # noqa: E402


def _embedded_milvus() -> bool:
    host = urlparse(settings.MILVUS_URI).hostname
    return not os.environ.get("MILVUS_URI") and host in ("127.0.0.1", "localhost")


def _spawn(argv: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen(list(argv), preexec_fn=pdeathsig_preexec(signal.SIGTERM))


def _reap() -> None:
    """Collect the exit status of re-parented descendants that ended (no zombies left)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop_descendants(grace_s: float = 15.0) -> list[int]:
    """SIGTERM the process group of every live descendant, SIGKILL what is left after
    ``grace_s``; the pids that needed SIGKILL."""
    me = psutil.Process()

    def alive() -> list[psutil.Process]:
        _reap()
        out = []
        for proc in me.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
        return out

    own_group = os.getpgrp()
    for proc in alive():
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            pgid = os.getpgid(proc.pid)
            if pgid != own_group:
                os.killpg(pgid, signal.SIGTERM)  # the group: python-backend stubs go with it
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = alive()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = alive()
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    time.sleep(0.2)
    _reap()
    return [p.pid for p in left]


def main() -> int:
    become_child_subreaper()
    py = sys.executable
    addr = os.environ.get("PORTAL_ADDR", "127.0.0.1:8000")
    procs: list[tuple[str, subprocess.Popen]] = []
    if _embedded_milvus():
        settings.MILVUS_LITE_DB.parent.mkdir(parents=True, exist_ok=True)
        procs.append(
            (
                "milvus",
                _spawn(
                    [
                        py,
                        "-m",
                        "inference.milvus_lite",
                        "--db",
                        str(settings.MILVUS_LITE_DB),
                        "--port",
                        str(settings.MILVUS_LITE_PORT),
                    ]
                ),
            )
        )
    # One worker process: torch inference stays in one thread team on a 2-core machine.
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    for sub in ("celery-broker/queue", "celery-broker/processed"):
        (settings.VAR_DIR / sub).mkdir(parents=True, exist_ok=True)
    procs.append(
        (
            "worker",
            _spawn(
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    "default,ingestion,deploy",
                    "--concurrency",
                    os.environ.get("CELERY_CONCURRENCY", "1"),
                    "-l",
                    "info",
                    "-B",
                    "--schedule",
                    str(settings.VAR_DIR / "celerybeat-schedule"),
                ]
            ),
        )
    )
    procs.append(("web", _spawn([py, "manage.py", "runserver", addr, "--noreload"])))
    print(f"\nPortal: http://{addr}/   API docs: http://{addr}/api/docs/   (Ctrl-C stops everything)\n", flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the rest", flush=True)
                stopping, exit_code = True, proc.returncode or 1
        time.sleep(0.5)
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + 15
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
    # What the children started and left behind (a tritonserver whose pool process exited).
    killed = stop_descendants()
    if killed:
        print(f"stopped leftover processes with SIGKILL: {killed}", flush=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
