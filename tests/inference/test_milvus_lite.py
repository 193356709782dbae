"""inference.milvus_lite: the embedded Milvus Lite server never leaves an orphan engine behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymilvus import MilvusClient

from inference.milvus_lite import LiteServer, LiteServerError, port_is_open, validate_db_path
from tests.support.milvus import milvus_engine_pids, start_lite_server, wait_no_engine
from tests.support.net import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from pathlib import Path
from inference.milvus_lite import LiteServer, LiteServerError
try:
    LiteServer(Path(sys.argv[1]), port=int(sys.argv[2])).start()
except LiteServerError as exc:
    print(exc)
"""


def test_stop_leaves_no_engine_process(tmp_path: Path):
    server = start_lite_server(tmp_path)
    pid = server.pid
    assert pid is not None and milvus_engine_pids(server.db_path) == [pid]
    assert server.lock_path.exists()
    server.stop()
    assert wait_no_engine(server.db_path, timeout=5) == []
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie
    assert not server.lock_path.exists()
    assert not port_is_open(server.host, server.port)
    server.stop()  # idempotent


def test_context_manager_serves_and_cleans_up(tmp_path: Path):
    with LiteServer(tmp_path / "ctx.db", port=free_port(), log_file=tmp_path / "ctx.log") as server:
        client = MilvusClient(uri=server.uri, dedicated=True)
        assert client.list_collections() == []
        client.close()
        db_path = server.db_path
    assert wait_no_engine(db_path, timeout=5) == []


def test_second_server_on_same_file_is_refused(tmp_path: Path):
    server = start_lite_server(tmp_path)
    try:
        other = LiteServer(server.db_path, port=free_port())
        with pytest.raises(LiteServerError, match="already opened"):
            other.start()
        # From another process too (this is what protects against a second `run` command).
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(server.db_path), str(free_port())],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0 and "already opened" in probe.stdout, probe.stdout + probe.stderr
        assert milvus_engine_pids(server.db_path) == [server.pid]
        busy = LiteServer(tmp_path / "other.db", port=server.port)
        with pytest.raises(LiteServerError, match="in use"):
            busy.start()
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["my db.db", "ünï.db", "x" * 34 + ".db", "a;rm.db"])
def test_invalid_db_names_are_refused_early(tmp_path: Path, name: str):
    with pytest.raises(LiteServerError, match="db file name"):
        LiteServer(tmp_path / name, port=free_port())


def test_valid_db_name_rules(tmp_path: Path):
    assert validate_db_path(tmp_path / ("x" * 33 + ".db")) == tmp_path / ("x" * 33 + ".db")
    # Only the file name is restricted; the directory may contain anything.
    odd_dir = tmp_path / "dir with spaces"
    assert validate_db_path(odd_dir / "milvus.db").parent == odd_dir


def _run_module(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "inference.milvus_lite", "--db", str(db), "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_serving(proc: subprocess.Popen[bytes], db: Path, port: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        pids = milvus_engine_pids(db.absolute())
        if pids and port_is_open("127.0.0.1", port):
            return pids[0]
        time.sleep(0.1)
    raise AssertionError("module server did not come up")


def test_module_runs_until_sigterm_and_cleans_up(tmp_path: Path):
    db, port = tmp_path / "fg.db", free_port()
    proc = _run_module(db, port)
    try:
        _wait_serving(proc, db, port)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out.decode()
        assert b"ready: uri=http://127.0.0.1:" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_no_engine(db.absolute(), timeout=5) == []


def test_sigkill_of_wrapper_takes_the_engine_down(tmp_path: Path):
    # Without PR_SET_PDEATHSIG the engine would keep serving, re-parented to PID 1 (shared notes).
    db, port = tmp_path / "kill.db", free_port()
    proc = _run_module(db, port)
    try:
        engine = _wait_serving(proc, db, port)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = wait_no_engine(db.absolute(), timeout=10)
    if left:  # clean up before failing so the machine is not left with an orphan
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"orphaned milvus engine {engine}"
    # A killed process leaves /proc's process list (its memory is released first) a moment
    # before the kernel closes its sockets: the port must close, not necessarily at once.
    deadline = time.monotonic() + 5
    while port_is_open("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_is_open("127.0.0.1", port)


def test_module_rejects_bad_db_name(tmp_path: Path):
    proc = _run_module(tmp_path / "bad name.db", free_port())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert b"db file name" in out
