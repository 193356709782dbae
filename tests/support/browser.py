"""Playwright fixtures driving Debian's headless Chromium (``/usr/bin/chromium``).

``npx playwright install`` cannot download browsers on this machine, so the browser is the
distro package installed by ``scripts/install_test_deps.sh``.

Fixtures (import them, and the report hook, into a conftest.py)::

    from tests.support.browser import browser, page, pytest_runtest_makereport  # noqa: F401

- ``browser`` (module scope): one headless Chromium per test module.
- ``browser_context`` (function scope): a fresh incognito-like context (own cookies/storage).
- ``page`` (function scope): a page in that context; on test failure a full-page screenshot
  is written to ``<pytest basetemp>/screenshots/<test id>.png`` (path printed in the report).

Invariants: every launch uses a fresh temporary user-data-dir (Playwright's ``launch`` creates
and deletes one per browser); contexts and the browser are closed at teardown even on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, sync_playwright

CHROMIUM_PATH = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")

# The network is closed here: without these Chromium keeps trying Google services (sync,
# component updates, QUIC probes) and floods refused connections. --no-sandbox because the
# tests run as root in a container; --disable-gpu because there is no display/GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

DEFAULT_TIMEOUT_MS = 15_000

_failure_key = pytest.StashKey[bool]()


def launch_chromium(chromium: BrowserType, **kwargs: Any) -> Browser:
    """Launch headless Debian Chromium with the flags above; raise a clear error if missing."""
    if not Path(CHROMIUM_PATH).exists():
        raise RuntimeError(f"{CHROMIUM_PATH} not found: run scripts/install_test_deps.sh to install chromium")
    return chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS, **kwargs)


@contextlib.contextmanager
def running_chromium(*, allow_async_unsafe: bool = False) -> Iterator[Browser]:
    """Headless Chromium for as long as the block runs.

    ``allow_async_unsafe``: Playwright's sync API keeps an asyncio loop in the test thread while
    it runs, and Django's async-safety guard then refuses every ORM call from that thread, so
    tests that use the ORM next to a browser lift the guard (DJANGO_ALLOW_ASYNC_UNSAFE) exactly
    while the browser lives; use it from a module-scoped fixture that depends on
    ``django_db_setup`` so the test database exists before the loop starts.
    """
    with pytest.MonkeyPatch.context() as mp:
        if allow_async_unsafe:
            mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            instance = launch_chromium(playwright.chromium)
            try:
                yield instance
            finally:
                instance.close()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium for one test module.

    Module, not session: Playwright's sync API refuses to start while another instance's loop
    runs in the thread, so a session-long browser broke the module-scoped ones of
    tests/tenants and tests/recommendations when the dirs ran in one session. Under Django the
    test database is set up first and the async guard is lifted while the browser lives.
    """
    django = request.config.pluginmanager.hasplugin("django")
    if django:
        request.getfixturevalue("django_db_setup")
    with running_chromium(allow_async_unsafe=django) as instance:
        yield instance


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context per test: no cookies or storage shared between tests."""
    context = browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(
    browser_context: BrowserContext, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    """A page in a fresh context; screenshot into basetemp/screenshots on failure."""
    new_page = browser_context.new_page()
    yield new_page
    if request.node.stash.get(_failure_key, False) and not new_page.is_closed():
        directory = tmp_path_factory.getbasetemp() / "screenshots"
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:] + ".png")
        try:
            new_page.screenshot(path=str(target), full_page=True)
            request.node.add_report_section("teardown", "screenshot", str(target))
        except Exception as exc:  # a broken page must not hide the original failure
            request.node.add_report_section("teardown", "screenshot", f"failed: {exc!r}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Remember a failed call phase so the ``page`` teardown knows to take a screenshot."""
    report = yield
    if call.when == "call" and getattr(report, "failed", False):
        item.stash[_failure_key] = True
    return report
