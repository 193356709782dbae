"""Shared plumbing for the recommendations HTTP benches: a throw-away Django database, a tenant
with a token, a live gunicorn server (with the CPU time its processes used), and latency
percentiles. Not a test; imported by bench/events_ingest.py and bench/recs_latency.py.

Everything lives in a temporary PORTAL_VAR_DIR (SQLite file, media), deleted at exit; the
server is a real gunicorn process group, always stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(var_dir: Path) -> None:
    """Point Django at a fresh SQLite database in ``var_dir`` and migrate it."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    os.environ["PORTAL_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclass
class BenchTenant:
    tenant: object
    token: str


def make_tenant(slug: str = "bench") -> BenchTenant:
    from django.contrib.auth import get_user_model

    from tenants.actors import Actor
    from tenants.models import Membership, Tenant
    from tenants.services import token_create

    tenant = Tenant.objects.create(slug=slug, name=slug.title())
    user = get_user_model().objects.create_user(username=f"owner@{slug}.test", email=f"owner@{slug}.test")
    membership = Membership.objects.create(tenant=tenant, user=user, role="owner")
    issued = token_create(
        tenant=tenant,
        actor=Actor.system(label="bench"),
        membership=membership,
        name="bench",
        scopes=["write", "recommend"],
    )
    return BenchTenant(tenant, issued.plaintext)


def process_group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in process group ``pgid`` (Linux /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is state
        if int(fields[2]) == pgid:  # process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:<port>
    pid: int  # the gunicorn master; it leads its own process group

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process in the server's process group."""
        return process_group_cpu_seconds(self.pid)


@contextlib.contextmanager
def gunicorn(
    var_dir: Path,
    *,
    workers: int,
    threads: int,
    worker_class: str | None = None,
    settings_module: str = "portal.settings.test",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A real gunicorn serving portal.wsgi on 127.0.0.1.

    ``worker_class`` None keeps gunicorn's default: sync, or gthread when ``threads`` > 1.
    ``settings_module`` "portal.settings.base" serves with the production settings.
    """
    import requests

    sys.path.insert(0, str(ROOT))
    from tests.support.net import free_port

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PORTAL_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        *(["--worker-class", worker_class] if worker_class else []),
        "--log-level",
        "warning",
        "--timeout",
        "120",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.3)
        yield Server(base, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def temp_var_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="recs-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(samples_ms)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }
