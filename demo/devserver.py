"""`make run`: the web server, a real Celery worker and (embedded default) a Milvus Lite server.

One foreground supervisor: Ctrl-C (or SIGTERM) stops all three. Production runs each as its own
process (gunicorn, `celery -A portal worker`, a Milvus server); see README.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlparse

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")
django.setup()

from django.conf import settings  # noqa: E402


def _embedded_milvus() -> bool:
    host = urlparse(settings.MILVUS_URI).hostname
    return not os.environ.get("MILVUS_URI") and host in ("127.0.0.1", "localhost")


def main() -> int:
    py = sys.executable
    addr = os.environ.get("PORTAL_ADDR", "127.0.0.1:8000")
    procs: list[tuple[str, subprocess.Popen]] = []
    if _embedded_milvus():
        settings.MILVUS_LITE_DB.parent.mkdir(parents=True, exist_ok=True)
        procs.append(
            (
                "milvus",
                subprocess.Popen(
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
            subprocess.Popen(
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
    procs.append(("web", subprocess.Popen([py, "manage.py", "runserver", addr, "--noreload"])))
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
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
