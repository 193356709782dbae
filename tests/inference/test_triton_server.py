"""The real tritonserver process: environment assembly, readiness, failure to start, clean stop."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from inference.supervisor import INHERITED_ENV
from inference.triton.client import TritonAdmin, TritonModelError
from inference.triton.repository import write_model_entry
from inference.triton.server import TritonServer, TritonStartError, probe_environment
from tests.support.net import free_port
from tests.support.triton import ECHO, ENV_PROBE, FIXTURES, SharedTriton, echo_spec

# Variables the python-backend stub sets for itself (not inherited from the portal).
STUB_ENV = {"PWD", "SHLVL", "_"}  # set by the shell the python-backend stub is launched through

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_probe_environment_finds_the_venv_not_the_base_interpreter() -> None:
    env = probe_environment(sys.executable)
    assert env.venv_dir == Path(sys.prefix)
    assert env.tritonserver_bin.is_file()
    assert env.stub.is_file()
    assert (env.libpython_dir / f"libpython{env.python_version}.so.1.0").exists()


def test_shared_server_is_ready_with_assembled_backend(triton: SharedTriton) -> None:
    assert triton.server.is_running()
    assert triton.http.server_ready() and triton.grpc.server_ready()
    pydir = triton.server.backend_dir / "python"
    assert (pydir / "triton_python_backend_stub").is_file()
    assert not (pydir / "triton_python_backend_stub").is_symlink()
    assert (pydir / "libtriton_python.so").is_symlink()
    env = triton.server.process_env()
    venv_bin = str(Path(sys.prefix) / "bin")
    assert env["PATH"].split(os.pathsep)[0] == venv_bin
    assert "nvidia_pytriton.libs" in env["LD_LIBRARY_PATH"]
    cmd = triton.server.command()
    assert "--model-control-mode=explicit" in cmd and "--pinned-memory-pool-byte-size=0" in cmd
    assert "Started GRPCInferenceService" in triton.server.log_path.read_text()


def _group_members(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    """Stopping kills the process group: the server and its python-backend stub processes."""
    write_model_entry(tmp_path / "repo", echo_spec(), 1, {"model.py": FIXTURES / "echo" / "model.py"})
    server = TritonServer(
        tmp_path / "repo",
        workdir=tmp_path / "work",
        http_port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
    )
    with server:
        pid = server.pid
        assert pid is not None and _alive(pid)
        admin = TritonAdmin(server.grpc_url)
        assert admin.server_ready()
        assert [(m.name, m.state) for m in admin.repository_index()] == [(ECHO, "")]
        admin.load_model(ECHO)
        members = _group_members(pid)
        assert len(members) >= 2  # tritonserver + the echo stub
    assert not server.is_running()
    assert not any(_alive(p) for p in members)
    assert _group_members(pid) == []
    assert not TritonAdmin(server.http_url, timeout_s=2).server_ready()
    server.stop()  # idempotent


def test_port_in_use_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = TritonServer(
            tmp_path / "repo",
            workdir=tmp_path / "work",
            http_port=port,
            grpc_port=free_port(),
            metrics_port=free_port(),
        )
        server.start()
        try:
            with pytest.raises(TritonStartError) as exc:
                server.wait_ready(30)
        finally:
            server.stop()
    assert "exited" in str(exc.value)
    assert "already in use" in str(exc.value)
    assert not server.is_running()


def test_model_code_sees_no_portal_secret_and_none_of_its_files(triton: SharedTriton) -> None:
    """Tenant model code runs in the server's stubs: it must not inherit the portal's environment
    (secret keys, database URL) nor start in the portal's working directory."""
    # portal.settings.test put these into this process's environment before the server started.
    assert os.environ.get("DJANGO_SECRET_KEY") and os.environ.get("TOKEN_HMAC_KEY")
    with pytest.raises(TritonModelError) as info:
        triton.grpc.load_model(ENV_PROBE)
    reason = info.value.reason
    env_names = set(reason.split("ENV[", 1)[1].split("]", 1)[0].split(","))
    assert {"DJANGO_SECRET_KEY", "TOKEN_HMAC_KEY", "PORTAL_VAR_DIR"}.isdisjoint(env_names)
    allowed = set(INHERITED_ENV) | {"HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LD_LIBRARY_PATH"}
    assert env_names - STUB_ENV <= allowed, env_names - allowed
    cwd = Path(reason.split("CWD[", 1)[1].split("]", 1)[0])
    assert cwd == triton.server.workdir
    files = reason.split("FILES[", 1)[1].split("]", 1)[0].split(",")
    assert "manage.py" not in files and "var" not in files
