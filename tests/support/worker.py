"""Real ``celery worker`` processes for fault tests, and the bits of world set-up they share.

A fault test runs the portal out of process (the worker must share the database with the code
under test, and the pytest database lives in memory): a scenario module prepares the rows, then
:class:`Workers` starts ``celery -A portal worker`` processes on the test's broker. Each worker
leads its own process group (``start_new_session``), so :meth:`Workers.kill` SIGKILLs the worker
and everything it started (pool children, an embedded beat) and nothing else, as the OOM killer
or ``kill -9`` of a container would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def portal_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of every out-of-process portal piece: test settings, a private var dir,
    offline model hubs, one inference thread, no Triton; ``overrides`` last (DATABASE_URL, broker…)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "TRITON_URL": "",
        "INFERENCE_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
        **overrides,
    }


def run_scenario(module: str, *args: str, env: dict[str, str], timeout: float = 300) -> str:
    """``python -m <module> <args>`` in the portal's environment; its last stdout line."""
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, timeout=timeout)
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    return out.stdout.decode().strip().splitlines()[-1]


class Workers:
    """Starts named workers (logs in ``log_dir/<name>.log``); :meth:`stop_all` ends the rest."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, Path(log_dir)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *, queues: str, beat: bool = False, pool: str = "solo") -> subprocess.Popen[bytes]:
        """One ``celery worker`` on ``queues`` (``--pool=solo`` by default: the task runs in the
        worker process itself); ``beat=True`` embeds beat (``-B``) with its schedule in log_dir."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *(sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues, f"--pool={pool}"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h", "--loglevel=INFO"),
        ]
        if beat:
            command += ["-B", "--schedule", str(self.log_dir / f"{name}-beat-schedule")]
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL the worker's whole process group (the worker leads it) and reap the worker."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def tails(self, chars: int = 3000) -> dict[str, str]:
        return {p.name: p.read_text(errors="replace")[-chars:] for p in sorted(self.log_dir.glob("*.log"))}

    def stop_all(self) -> None:
        """SIGTERM (warm shutdown) each live worker's group; SIGKILL what is left after 15 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                except ProcessLookupError:
                    pass

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
        """Poll ``predicate`` until it returns something truthy (returned); on timeout fail with the logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; worker logs: {self.tails()}")
