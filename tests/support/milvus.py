"""Real Milvus Lite server for tests (no mocks): one engine per test session.

Import the fixtures into a test directory's ``conftest.py``::

    from tests.support.milvus import milvus_server  # noqa: F401

Helpers here are also used to assert that no ``milvus`` engine process outlives its server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.milvus_lite import LiteServer, LiteServerError
from tests.support.net import free_port

# Milvus Lite start-up is ~1 s; allow for a loaded 2-core machine.
READY_TIMEOUT_S = 60.0


def start_lite_server(directory: Path, name: str = "milvus.db", port: int | None = None) -> LiteServer:
    """Start a LiteServer on ``directory/name`` and wait until it answers gRPC."""
    last: Exception | None = None
    for _ in range(3):
        server = LiteServer(directory / name, port=port or free_port(), log_file=directory / f"{name}.log")
        try:
            server.start()
            server.wait_ready(READY_TIMEOUT_S)
            return server
        except LiteServerError as exc:  # port grabbed by someone else in between: try another
            server.stop()
            last = exc
            if port is not None:
                break
    raise RuntimeError(f"could not start Milvus Lite: {last}")


def milvus_engine_pids(db_path: Path) -> list[int]:
    """PIDs of live ``milvus`` engine processes serving ``db_path`` (read from /proc)."""
    target = str(db_path)
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue  # exited while we looked
        if "Z" in state.split()[1]:
            continue  # zombie: already dead, only waiting to be reaped
        is_engine = bool(argv) and os.path.basename(argv[0].decode(errors="replace")) == "milvus"
        if is_engine and any(arg.decode(errors="replace") == target for arg in argv[1:]):
            pids.append(int(entry.name))
    return pids


def wait_no_engine(db_path: Path, timeout: float = 10.0) -> list[int]:
    """Poll until no engine serves ``db_path``; return what is left (empty on success)."""
    deadline = time.monotonic() + timeout
    left = milvus_engine_pids(db_path)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = milvus_engine_pids(db_path)
    return left


def wipe_vectors(uri: str, collection: str, *, patience_s: float = 60.0) -> None:
    """Delete every vector of ``collection`` (the database is rolled back between tests and
    reuses ids, so the wipe must happen).

    On a loaded 2-core box the Lite server can take longer than a connect timeout to accept a new
    channel, and a pooled channel left idle through a long fixture (SmolLM2 loading) is dropped
    with GOAWAY "too_many_pings"; both are retried until ``patience_s``."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    deadline = time.monotonic() + patience_s
    while True:
        try:
            client = MilvusClient(uri=uri, timeout=10)
        except MilvusException:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
            continue
        try:
            if client.has_collection(collection):
                client.delete(collection, filter="chunk_id >= 0")
            return
        finally:
            client.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    """A real Milvus Lite 2.5.1 server on a free loopback port, stopped after the session."""
    directory = tmp_path_factory.mktemp("milvus")
    server = start_lite_server(directory)
    try:
        yield server
    finally:
        server.stop()
        left = wait_no_engine(server.db_path)
        assert not left, f"milvus engine processes left behind: {left}"
