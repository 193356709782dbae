"""Session-wide real ``tritonserver`` for tests, shared by every test dir that imports these fixtures.

Import the fixtures in a conftest (``from tests.support.triton import triton_server, ...``).
The server is reference-counted at module level, so even when two conftests define the fixtures
a session starts exactly one server (and the MiniLM model is loaded once). It runs on free ports
with a temp repository holding: ``minilm`` and ``e5s`` (built-in), ``echo``, ``failing_init`` and ``env_probe``
(fixtures).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference.triton.builtin import E5_NAME, MINILM_NAME, install_e5, install_minilm
from inference.triton.client import TritonAdmin
from inference.triton.repository import TensorSpec, TritonModelSpec, write_model_entry
from inference.triton.server import TritonServer
from tests.support.net import free_port

FIXTURES = Path(__file__).resolve().parent / "triton_models"
ECHO = "echo"
FAILING = "failing_init"
ENV_PROBE = "env_probe"
PYTHON = sys.executable


def echo_spec(name: str = ECHO, max_batch_size: int = 8) -> TritonModelSpec:
    return TritonModelSpec(
        name=name,
        backend="python",
        max_batch_size=max_batch_size,
        inputs=[TensorSpec("text", "BYTES", (1,))],
        outputs=[TensorSpec("embedding", "FP32", (4,))],
    )


@dataclass
class SharedTriton:
    server: TritonServer
    repo_dir: Path
    http: TritonAdmin
    grpc: TritonAdmin
    minilm_loaded: bool = False


_lock = threading.Lock()
_refs = 0
_shared: SharedTriton | None = None


def _acquire(tmp_path_factory: pytest.TempPathFactory) -> SharedTriton:
    global _refs, _shared
    with _lock:
        if _shared is None:
            root = tmp_path_factory.mktemp("triton")
            repo = root / "repo"
            install_minilm(repo, version=1, dynamic_batching=True)
            install_e5(repo, version=1)
            write_model_entry(repo, echo_spec(), 1, {"model.py": FIXTURES / "echo" / "model.py"})
            write_model_entry(repo, echo_spec(FAILING), 1, {"model.py": FIXTURES / "failing_init" / "model.py"})
            write_model_entry(repo, echo_spec(ENV_PROBE), 1, {"model.py": FIXTURES / "env_probe" / "model.py"})
            server = TritonServer(
                repo,
                workdir=root / "work",
                http_port=free_port(),
                grpc_port=free_port(),
                metrics_port=free_port(),
                python_executable=PYTHON,
                exit_timeout_s=1,  # do not wait on idle keep-alive connections at teardown
            )
            server.start()
            try:
                server.wait_ready(60)
            except BaseException:
                server.stop()
                raise
            _shared = SharedTriton(server, repo, TritonAdmin(server.http_url), TritonAdmin(server.grpc_url))
        _refs += 1
        return _shared


def _release() -> None:
    global _refs, _shared
    with _lock:
        _refs -= 1
        if _refs == 0 and _shared is not None:
            _shared.server.stop()
            _shared = None


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedTriton]:
    """A running tritonserver (explicit model control, nothing loaded at start)."""
    shared = _acquire(tmp_path_factory)
    try:
        yield shared
    finally:
        _release()


@pytest.fixture
def triton_minilm(triton: SharedTriton) -> SharedTriton:
    """``triton`` with the built-in MiniLM model loaded (loaded once; reloaded only if a test unloaded it)."""
    if not triton.minilm_loaded or not triton.grpc.model_ready(MINILM_NAME):
        triton.grpc.load_model(MINILM_NAME)
        triton.minilm_loaded = True
    return triton


@pytest.fixture
def triton_e5(triton: SharedTriton) -> SharedTriton:
    """``triton`` with the built-in multilingual-e5-small model loaded."""
    if not triton.grpc.model_ready(E5_NAME):
        triton.grpc.load_model(E5_NAME)
    return triton
