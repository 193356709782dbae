"""Fixtures for the smoke tests of the test infrastructure in tests/support/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.browser import browser, browser_context, page, pytest_runtest_makereport
from tests.support.oidc import oidc_provider_factory

__all__ = [
    "browser",
    "browser_context",
    "oidc_provider_factory",
    "page",
    "pytest_runtest_makereport",
]


@dataclass
class LocalHttpServer:
    """A threaded HTTP server on 127.0.0.1 answering every GET with ``body``.

    Records each request path in ``paths`` (the OIDC redirect target in these tests).
    """

    body: str
    paths: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def local_http_server() -> Iterator[LocalHttpServer]:
    """Start a LocalHttpServer serving a small HTML page; stop it at teardown."""
    state = LocalHttpServer(
        body="""<!doctype html><html><body>
<p id="status">idle</p>
<button id="go" onclick="document.getElementById('status').textContent = 'clicked'">Go</button>
</body></html>"""
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            payload = state.body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
