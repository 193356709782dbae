"""Fault: Ctrl-C of ``make run`` after a model was served on the local Triton.

Reproduced before the fix: the worker's pool process started ``tritonserver`` in its own process
group, the terminal's SIGINT reached only ``make run``'s own group, and the server outlived the
run (re-parented to PID 1). Now the worker stops what it started on shutdown, the server dies
with the process that started it (``PR_SET_PDEATHSIG``), and the devserver, as child subreaper,
stops any descendant still alive. The test runs the real ``python -m demo.devserver`` (web,
Celery worker with beat, Milvus Lite), has the worker start the real local tritonserver through
its task, then sends SIGINT to the devserver's process group exactly as a terminal does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.milvus import milvus_engine_pids
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _tritonservers(repository: Path) -> list[psutil.Process]:
    flag = f"--model-repository={repository}"
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE or not cmdline:
            continue
        if cmdline[0].endswith("tritonserver") and flag in cmdline:
            out.append(proc)
    return out


def _wait(predicate, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(
        f"timed out waiting for {what}; devserver log tail:\n{log.read_text(errors='replace')[-4000:]}"
    )


def _triton_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_ctrl_c_of_make_run_stops_the_tritonserver_the_worker_started(tmp_path: Path) -> None:
    var = tmp_path / "var"
    http_port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("MILVUS_URI", "TRITON_URL", "DATABASE_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "PORTAL_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://",
            "MILVUS_LITE_PORT": str(free_port()),
            "TRITON_LOCAL_HTTP_PORT": str(http_port),
            "TRITON_LOCAL_GRPC_PORT": str(free_port()),
            "TRITON_LOCAL_METRICS_PORT": str(free_port()),
            "PORTAL_ADDR": f"127.0.0.1:{free_port()}",
            "INFERENCE_TORCH_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
        }
    )
    log = tmp_path / "devserver.log"
    with open(log, "wb") as out:
        # Its own session, like a shell job: SIGINT to the group is what Ctrl-C sends.
        devserver = subprocess.Popen(
            [sys.executable, "-m", "demo.devserver"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    repository = var / "triton-repo"
    milvus_db = var / "milvus.db"
    try:
        _wait(lambda: bool(milvus_engine_pids(milvus_db)), 90, "the Milvus Lite engine", log)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "call",
                "models_registry.local_triton_start",
                "--queue",
                "deploy",
            ],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait(lambda: _triton_ready(http_port), 180, "the worker's tritonserver to answer ready", log)
        servers = _tritonservers(repository)
        assert servers, "tritonserver answers but no process serves the test repository"
        # The bug's precondition: the server leads its own process group, out of Ctrl-C's reach.
        assert os.getpgid(servers[0].pid) != os.getpgid(devserver.pid)

        os.killpg(devserver.pid, signal.SIGINT)
        devserver.wait(timeout=90)
    finally:
        if devserver.poll() is None:
            os.killpg(devserver.pid, signal.SIGKILL)
            devserver.wait(timeout=30)

    deadline = time.monotonic() + 10
    while (_tritonservers(repository) or milvus_engine_pids(milvus_db)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left_triton = [p.pid for p in _tritonservers(repository)]
    left_milvus = milvus_engine_pids(milvus_db)
    for pid in left_triton + left_milvus:  # never leave them to the next test
        os.killpg(pid, signal.SIGKILL)
    assert not left_triton, f"tritonserver outlived make run: {left_triton}\n{log.read_text(errors='replace')[-3000:]}"
    assert not left_milvus, f"milvus engine outlived make run: {left_milvus}"
    assert not _triton_ready(http_port)


_STARTER = """
import sys, time
from pathlib import Path
from inference.triton.local import LocalTritonConfig, local_server_ensure
root = Path(sys.argv[1])
config = LocalTritonConfig(repository=root / "repo", workdir=root / "work", http_port=int(sys.argv[2]),
                           grpc_port=int(sys.argv[3]), metrics_port=int(sys.argv[4]))
(root / "repo").mkdir(parents=True, exist_ok=True)
local_server_ensure(config).close()
print("ready", flush=True)
time.sleep(600)
"""


def test_sigkilled_process_that_started_the_local_triton_takes_it_down(tmp_path: Path) -> None:
    """A worker SIGKILLed (OOM killer, kill -9) runs no shutdown hook: PR_SET_PDEATHSIG does it."""
    http_port = free_port()
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(tmp_path), str(http_port), str(free_port()), str(free_port())],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert starter.stdout is not None
        line = starter.stdout.readline()
        assert line.strip() == "ready", line + starter.stdout.read()
        servers = _tritonservers(tmp_path / "repo")
        assert servers and _triton_ready(http_port)
        starter.kill()
        starter.wait(timeout=10)
        psutil.wait_procs(servers, timeout=15)
        left = [p.pid for p in _tritonservers(tmp_path / "repo")]
        for pid in left:
            os.killpg(pid, signal.SIGKILL)
        assert not left, f"tritonserver outlived the SIGKILLed process that started it: {left}"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait(timeout=10)
