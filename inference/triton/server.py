"""Start and stop a real standalone ``tritonserver`` from the ``nvidia-pytriton`` wheel (CPU).

Environment the process gets (measured; see shared/notes/triton-local.md §2.2-2.3):

- ``--backend-directory=<workdir>/backends``, assembled here: ``python/`` holds a *copy* of the
  ``triton_python_backend_stub`` for the venv's Python version (the wheel ships none in its
  backend dir, and a stub in the model dir is not searched by 2.51) plus symlinks to the wheel's
  ``libtriton_python.so`` and ``triton_python_backend_utils.py``.
- ``PATH=<venv>/bin:$PATH``: the stub's embedded interpreter takes the first ``python3`` on PATH
  and, through it, that venv's site-packages (``PYTHONPATH`` does not work). The venv must have
  numpy<2: the 2.51 stub corrupts tensors with numpy 2.
- ``LD_LIBRARY_PATH=<LIBDIR of the venv's base interpreter>:<site-packages>/nvidia_pytriton.libs``:
  the interpreter's own ``libpython3.X.so.1.0`` must win over the system one (pyenv 3.11.7 vs
  Debian 3.11.2 -> ``undefined symbol: _PyModule_Add``), and the copied stub needs ``libcudart``
  from the wheel's libs dir (no GPU is needed, only the library).
- ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``: models never reach a hub.
- flags: ``--model-control-mode=explicit`` (start with no models; load/unload via the API),
  ``--pinned-memory-pool-byte-size=0`` (silences the CUDA pinned-memory warning on CPU),
  ``--exit-on-error=false`` (a model that fails to load never kills the server),
  ``--strict-readiness=false`` (a failed model load must not mark the whole server not-ready),
  ``--exit-timeout-secs=5`` (default 30: SIGTERM would wait that long on idle HTTP keep-alives).

Invariants: the server runs in its own process group (``start_new_session``), so ``stop()``
takes the python-backend stub processes down with it; a stopped server leaves no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inference.supervisor import ManagedProcess, ProcessStartError, scrubbed_environ

__all__ = ["LoopbackTritonURLs", "TritonEnvironment", "TritonServer", "TritonStartError", "probe_environment"]


class TritonStartError(ProcessStartError):
    """The server process could not be started or did not become ready; carries the log tail."""


@dataclass(frozen=True)
class TritonEnvironment:
    """Paths derived from the venv whose interpreter the python-backend stubs will run."""

    venv_dir: Path
    site_packages: Path
    python_version: str  # "3.11"
    libpython_dir: Path  # sysconfig LIBDIR of the base interpreter

    @property
    def tritonserver_root(self) -> Path:
        return self.site_packages / "pytriton" / "tritonserver"

    @property
    def tritonserver_bin(self) -> Path:
        return self.tritonserver_root / "bin" / "tritonserver"

    @property
    def wheel_libs(self) -> Path:
        return self.site_packages / "nvidia_pytriton.libs"

    @property
    def stub(self) -> Path:
        stubs = self.tritonserver_root / "python_backend_stubs"
        return stubs / self.python_version / "triton_python_backend_stub"


_PROBE = (
    "import json,sys,sysconfig;print(json.dumps({'prefix':sys.prefix,"
    "'purelib':sysconfig.get_paths()['purelib'],'ver':'%d.%d'%sys.version_info[:2],"
    "'libdir':sysconfig.get_config_var('LIBDIR')}))"
)


def probe_environment(python_executable: str) -> TritonEnvironment:
    """Ask ``python_executable`` itself where its venv lives.

    Resolving the symlink instead would be wrong: a venv's ``bin/python`` points at the base
    interpreter, whose ``sys.prefix`` is not the venv.
    """
    out = subprocess.run([python_executable, "-c", _PROBE], check=True, capture_output=True, text=True)
    info = json.loads(out.stdout)
    return TritonEnvironment(
        venv_dir=Path(info["prefix"]),
        site_packages=Path(info["purelib"]),
        python_version=info["ver"],
        libpython_dir=Path(info["libdir"]),
    )


class LoopbackTritonURLs:
    """The client URLs of a Triton listening on 127.0.0.1 at ``http_port``/``grpc_port``/``metrics_port``."""

    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"


class TritonServer(LoopbackTritonURLs, ManagedProcess):
    """One ``tritonserver`` subprocess serving ``repo_dir`` in explicit model-control mode.

    ``workdir`` receives the assembled backend directory and ``tritonserver.log``. Ports must be
    free (tests pick them with ``tests.support.net.free_port``). The lifecycle (start, wait_ready,
    stop of the whole process group, context manager) is :class:`inference.supervisor.ManagedProcess`.
    """

    error_class = TritonStartError
    display_name = "tritonserver"

    def __init__(
        self,
        repo_dir: Path,
        *,
        workdir: Path,
        http_port: int,
        grpc_port: int,
        metrics_port: int,
        python_executable: str = sys.executable,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        exit_timeout_s: int = 5,
        bind_address: str = "127.0.0.1",
        die_with_parent: bool = False,
    ) -> None:
        self.repo_dir = Path(repo_dir)
        # The portal's own server (inference.triton.local) dies with the process that started
        # it, so a SIGKILLed worker leaves no tritonserver behind (the python-backend stubs exit
        # on their own when their tritonserver is gone).
        self.die_with_parent = die_with_parent
        self.workdir = Path(workdir)
        # cwd: the work directory, so a model's relative paths never reach the portal's own files.
        super().__init__(log_path=self.workdir / "tritonserver.log", cwd=self.workdir)
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        self.python_executable = python_executable
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.exit_timeout_s = exit_timeout_s
        self.bind_address = bind_address
        self._env: TritonEnvironment | None = None

    @property
    def backend_dir(self) -> Path:
        return self.workdir / "backends"

    # -- environment -----------------------------------------------------------------------
    def environment(self) -> TritonEnvironment:
        if self._env is None:
            self._env = probe_environment(self.python_executable)
        return self._env

    def assemble_backends(self) -> Path:
        """Build ``<workdir>/backends/python`` (stub copy + symlinks); idempotent."""
        env = self.environment()
        if not env.stub.is_file():
            raise TritonStartError(f"no python-backend stub for Python {env.python_version} at {env.stub}")
        pydir = self.backend_dir / "python"
        pydir.mkdir(parents=True, exist_ok=True)
        src = env.tritonserver_root / "backends" / "python"
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            link = pydir / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(src / name)
        # A copy, not a link: the backend resolves the stub next to libtriton_python.so's dir.
        shutil.copy2(env.stub, pydir / "triton_python_backend_stub")
        return self.backend_dir

    def process_env(self) -> dict[str, str]:
        """A scrubbed environment (no portal secrets: model code runs in the stubs) plus what the
        server and its python-backend stubs need (module docstring)."""
        env = self.environment()
        base = scrubbed_environ()
        ld = [str(env.libpython_dir), str(env.wheel_libs)]
        if os.environ.get("LD_LIBRARY_PATH"):
            ld.append(os.environ["LD_LIBRARY_PATH"])
        return {
            **base,
            "PATH": f"{env.venv_dir / 'bin'}{os.pathsep}{base.get('PATH', os.defpath)}",
            "LD_LIBRARY_PATH": os.pathsep.join(ld),
            # Model code gets the server's own work directory as home and cache, not the portal's.
            "HOME": str(self.workdir),
            "HF_HOME": str(self.workdir / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }

    def command(self) -> list[str]:
        env = self.environment()
        return [
            str(env.tritonserver_bin),
            f"--model-repository={self.repo_dir}",
            f"--backend-directory={self.backend_dir}",
            "--model-control-mode=explicit",
            "--pinned-memory-pool-byte-size=0",
            "--exit-on-error=false",
            # Strict readiness reports the whole server not-ready once any model failed to load,
            # which would take a shared multi-model server out of service for one bad model.
            "--strict-readiness=false",
            # Triton otherwise waits up to 30 s for idle keep-alive HTTP connections on SIGTERM.
            f"--exit-timeout-secs={self.exit_timeout_s}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            f"--http-address={self.bind_address}",
            f"--grpc-address={self.bind_address}",
            f"--metrics-address={self.bind_address}",
            *self.extra_args,
        ]

    def shell_command(self) -> str:
        """The equivalent shell line (env + command) for running this server by hand."""
        assigns = [f"{k}={shlex.quote(v)}" for k, v in sorted(self.process_env().items())]
        return " ".join(["env", "-i", *assigns, *(shlex.quote(a) for a in self.command())])

    # -- supervisor hooks ------------------------------------------------------------------
    def before_start(self) -> None:
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.assemble_backends()

    def ready_once(self) -> bool:
        url = f"{self.http_url}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as resp:  # noqa: S310 (local http URL)
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inference.triton.server --repo R --workdir W``: run a server in the foreground."""
    import argparse

    ap = argparse.ArgumentParser(description="Run a local tritonserver (explicit model control).")
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--http-port", type=int, default=8000)
    ap.add_argument("--grpc-port", type=int, default=8001)
    ap.add_argument("--metrics-port", type=int, default=8002)
    ap.add_argument("--python", default=sys.executable, help="interpreter of the venv the models run in")
    ap.add_argument("--print-only", action="store_true", help="assemble backends, print the command, exit")
    args, extra = ap.parse_known_args(argv)
    server = TritonServer(
        args.repo,
        workdir=args.workdir,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        python_executable=args.python,
        extra_args=extra,
    )
    server.assemble_backends()
    print(server.shell_command(), flush=True)
    if args.print_only:
        return
    with server:
        print(f"ready: {server.http_url} {server.grpc_url}; log {server.log_path}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.is_running():
                time.sleep(1.0)


if __name__ == "__main__":
    main()
