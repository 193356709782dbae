"""Loopback ports for the real servers tests and benches start (tritonserver, Milvus Lite, gunicorn)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago.

    Racy by nature (another process may take it before the server binds): servers started on it
    fail fast with a clear error, and start_lite_server retries on a new port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
