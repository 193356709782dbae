"""The production stack for the load benches (bench/load_*.py): what README's "Running in
production" runs, on this machine, in throw-away places.

- ``portal.settings.base`` (not the test settings): DEBUG off, the default API throttles, and
  metering on when the installed code has it (it reads CACHE_URL / its own settings);
- PostgreSQL: a fresh database on the local server (``--pg``), dropped at exit;
- Redis: a private ``redis-server`` on a free port (Celery broker + cache), stopped at exit;
- a real Milvus Lite server, gunicorn (gthread) and, when asked, a real Celery worker with beat.

Every process is started in its own session and stopped in ``finally``. Not product code.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recs_support import process_group_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the process group (it leads its own session), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Stack:
    """Handles to the running parts; ``env`` is what every portal process runs with."""

    tmp: Path
    env: dict[str, str]
    redis_url: str
    base: str = ""  # gunicorn's http://127.0.0.1:<port>
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU of every live process in that part's process group."""
        return process_group_cpu_seconds(self.procs[name].pid)

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}


@contextlib.contextmanager
def production_stack(
    *,
    pg: str = DEFAULT_PG,
    milvus: bool = False,
    worker: bool = False,
    server: str = "2x4",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start everything, set up Django in this process against the same database, yield."""
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the finally below stops what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="load-bench-"))
    db_name = f"load_{uuid.uuid4().hex[:10]}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    created_db = False
    try:
        redis_port = free_port()
        procs["redis"] = _spawn(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            tmp / "redis.log",
            os.environ.copy(),
        )
        redis_url = f"redis://127.0.0.1:{redis_port}"
        _wait(lambda: _redis_ping(redis_url), procs["redis"], "redis-server", 20)

        _psql(pg, f"CREATE DATABASE {db_name}")
        created_db = True
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.base",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "TOKEN_HMAC_KEY": secrets.token_urlsafe(32),
            "AUDIT_HMAC_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"{pg}/{db_name}",
            "CELERY_BROKER_URL": f"{redis_url}/0",
            "CACHE_URL": f"{redis_url}/1",
            "PORTAL_VAR_DIR": str(tmp / "var"),
            "MEDIA_ROOT": str(tmp / "media"),
            "TRITON_URL": "",
            "TRITON_LLM_MODEL": "",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "INFERENCE_TORCH_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        (tmp / "var").mkdir()
        if milvus:
            port = free_port()
            procs["milvus"] = _spawn(
                [sys.executable, "-m", "inference.milvus_lite", "--db", str(tmp / "milvus.db"), "--port", str(port)],
                tmp / "milvus.log",
                env,
            )
            env["MILVUS_URI"] = f"http://127.0.0.1:{port}"
            env["MILVUS_COLLECTION"] = "load_chunks"
            _wait(lambda: _port_open(port), procs["milvus"], "milvus lite", 90)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        stack = Stack(tmp=tmp, env=env, redis_url=redis_url, procs=procs)
        if worker:
            procs["worker"] = _spawn(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    "default,ingestion,deploy",
                    "--concurrency",
                    "1",
                    "-l",
                    "warning",
                    "-B",
                    "--schedule",
                    str(tmp / "celerybeat-schedule"),
                ],
                tmp / "worker.log",
                env,
            )
        workers, _, threads = server.partition("x")
        port = free_port()
        # The production gunicorn config (portal/gunicorn.conf.py: the queue-timed thread worker
        # behind load shedding), with this stack's size and address.
        procs["gunicorn"] = _spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "portal" / "gunicorn.conf.py"),
                "portal.wsgi:application",
                "--log-level",
                "warning",
            ],
            tmp / "gunicorn.log",
            {**env, "PORTAL_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": workers, "PORTAL_THREADS": threads or "1"},
        )
        stack.base = f"http://127.0.0.1:{port}"
        _wait(lambda: _http_ok(f"{stack.base}/healthz"), procs["gunicorn"], "gunicorn", 90)
        yield stack
    finally:
        for name in ("gunicorn", "worker", "milvus", "redis"):
            if name in procs:
                _stop(procs[name])
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if created_db:
            with contextlib.suppress(Exception):
                _psql(pg, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        if os.environ.get("LOAD_BENCH_KEEP_TMP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 - the child keeps it; closed when we exit
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(check: Any, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.3)


def _psql(pg: str, sql: str) -> None:
    subprocess.run(["psql", f"{pg}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def _redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status < 500
    except OSError:
        return False


def make_tenant(slug: str, scopes: list[str], tokens: int = 1) -> tuple[Any, list[str]]:
    """A tenant through the product's services, its owner, and ``tokens`` API tokens."""
    from django.contrib.auth import get_user_model

    from tenants.actors import Actor
    from tenants.models import Membership
    from tenants.services import tenant_create, token_create

    owner = get_user_model().objects.create(username=f"owner@{slug}.test", email=f"owner@{slug}.test")
    system = Actor.system(label="load-bench")
    tenant = tenant_create(actor=system, slug=slug, name=slug.title(), owner=owner)
    membership = Membership.objects.for_tenant(tenant).get(user=owner)
    actor = Actor.for_user(owner, membership)
    plain = [
        token_create(tenant=tenant, actor=actor, membership=membership, name=f"load-{i}", scopes=scopes).plaintext
        for i in range(tokens)
    ]
    return tenant, plain


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(name: str, values: list[float], fmt: str = "{:.1f}") -> str:
    """'median (min-max)' over runs."""
    if not values:
        return f"{name}: -"
    med = statistics.median(values)
    return f"{name}: {fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


MAX_UPLOAD_ATTEMPTS = 30


async def upload_files(
    base: str, token: str, files: list[tuple[str, bytes]], *, concurrency: int, statuses: Any, latencies_ms: list[float]
) -> list[int]:
    """POST each file to /api/v1/documents/ (one file per request, ``concurrency`` at a time);
    returns the ids of accepted documents. Counts statuses and records request latencies."""
    import aiohttp

    accepted: list[int] = []
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:

        async def one(name: str, data: bytes) -> None:
            # A well-behaved client: a documented 429 or 503 (throttle, quota, load shed) with
            # Retry-After is retried after that many seconds; every response is counted.
            for _attempt in range(MAX_UPLOAD_ATTEMPTS):
                form = aiohttp.FormData()
                form.add_field("files", data, filename=name, content_type="application/octet-stream")
                retry_after = None
                async with sem:
                    t0 = time.perf_counter()
                    body = b""
                    try:
                        async with session.post(f"{base}/api/v1/documents/", data=form, headers=headers) as resp:
                            body = await resp.read()
                            status = str(resp.status)
                            if resp.status == 202:
                                accepted.extend(d["id"] for d in json.loads(body)["documents"])
                            elif resp.status in (429, 503):
                                if "Retry-After" in resp.headers:
                                    retry_after = float(resp.headers["Retry-After"])
                                else:
                                    status = f"{resp.status}-no-retry-after"
                    except TimeoutError:
                        status = "timeout"
                    except aiohttp.ClientError as exc:
                        status = type(exc).__name__
                    latencies_ms.append((time.perf_counter() - t0) * 1000)
                    statuses[status] += 1
                    if status not in ("202", "429", "503"):
                        print(
                            f"  upload {name}: {status} {body[:300]!r}" if status.isdigit() else f"  {name}: {status}"
                        )
                if retry_after is None:
                    return
                await asyncio.sleep(retry_after)
            statuses["gave-up"] += 1

        await asyncio.gather(*(one(n, d) for n, d in files))
    return accepted


def wait_terminal(doc_ids: list[int], *, timeout_s: float, progress_every_s: float = 15.0) -> dict[str, Any]:
    """Poll the database until every document is ready or failed (or the timeout passes).

    Returns counts: ready, failed (with their errors), failed without a reason, still pending
    (by status), missing (no row at all) and the seconds it took.
    """
    from django.db import close_old_connections

    from documents.models import Document

    t0 = time.perf_counter()
    last = 0.0
    while True:
        close_old_connections()
        rows = dict(Document.objects.all_tenants().filter(pk__in=doc_ids).values_list("pk", "status"))
        pending = collections.Counter(s for s in rows.values() if s not in ("ready", "failed"))
        elapsed = time.perf_counter() - t0
        if not pending or elapsed > timeout_s:
            break
        if elapsed - last >= progress_every_s:
            last = elapsed
            done = sum(1 for s in rows.values() if s in ("ready", "failed"))
            print(
                f"  ingestion: {done}/{len(doc_ids)} terminal after {elapsed:.0f} s; pending {dict(pending)}; load {loadavg()}",
                flush=True,
            )
        time.sleep(2)
    failed = list(Document.objects.all_tenants().filter(pk__in=doc_ids, status="failed").values_list("pk", "error"))
    return {
        "ready": sum(1 for s in rows.values() if s == "ready"),
        "failed": len(failed),
        "failed_errors": collections.Counter(e for _, e in failed),
        "failed_without_reason": sum(1 for _, e in failed if not e.strip()),
        "pending": dict(pending),
        "missing": len(set(doc_ids) - set(rows)),
        "seconds": time.perf_counter() - t0,
    }
