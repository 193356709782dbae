"""A private, throw-away PostgreSQL cluster for fault tests (never the machine's own server).

``initdb`` into a temp directory (as the ``postgres`` system user when the tests run as root:
initdb refuses root), ``pg_ctl`` on a free loopback port with trust authentication for local
connections only. :meth:`PostgresServer.restart` is the fault: ``pg_ctl restart -m fast``
terminates every session, as a crash-restart or failover does.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.net import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> bool:
    return _bin_dir() is not None and (os.geteuid() != 0 or shutil.which("runuser") is not None)


class PostgresServer:
    """One cluster in its own temp directory (not under pytest's tmp_path: that is private to
    root, and the server runs as ``postgres``); :meth:`remove` deletes it."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
        self.bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()

    def url(self, db: str = "postgres") -> str:
        return f"postgres://portal@127.0.0.1:{self.port}/{db}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd="/")
        if out.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {out.stdout.decode()[-2000:]} {out.stderr.decode()[-2000:]}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "portal", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.directory / "pg.log"), "-w", "start")

    def restart(self, down_s: float = 0.0) -> None:
        """Terminate every session (fast shutdown), stay down ``down_s`` seconds, start again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
