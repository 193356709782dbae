"""Where a revision is rolled out: a Kubernetes cluster or the portal's local tritonserver.

The rollout state machine (deploy/services/rollouts.py) only speaks this interface:

    check()                          credentials / reachability         -> TargetAuthError, TargetUnavailable
    apply(revision)                  push the revision's manifests      -> TargetError
    wait(revision, deadline_s)       until the new revision is rolled   -> TargetTimeout, TargetError
    verify(revision)                 Triton server + model readiness    -> TargetError
    rollback(previous, current)      back to `previous`; None = remove `current` entirely
    close()

Every method is idempotent: re-applying the same revision is a no-op on the target (server-side
apply with one field manager; rewriting the same model entry), which is what lets a redelivered
task start again from `apply`. Nothing here touches the database.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from deploy.constants import FIELD_MANAGER


class TargetError(Exception):
    """The target refused or failed; `message` is shown to the tenant as the rollout's reason."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TargetAuthError(TargetError):
    """The stored credentials were rejected (401) or lack a permission (403)."""


class TargetUnavailable(TargetError):
    """Cannot reach the target right now (transient)."""

    retryable = True


class TargetTimeout(TargetError):
    """The revision did not become ready before the deadline."""


@dataclass(frozen=True)
class RevisionData:
    """What a target needs of one revision (plain data, copied from the Revision row)."""

    number: int
    spec: dict[str, Any]
    manifests: list[dict[str, Any]]
    idempotency_key: str = ""


class RolloutTarget(Protocol):
    def check(self) -> str: ...
    def apply(self, revision: RevisionData) -> str: ...
    def wait(self, revision: RevisionData, deadline_s: float) -> str: ...
    def verify(self, revision: RevisionData) -> str: ...
    def rollback(self, previous: RevisionData | None, current: RevisionData, deadline_s: float) -> str: ...
    def close(self) -> None: ...


# ---- Kubernetes -------------------------------------------------------------------------------


def _kube_error(exc: Exception) -> TargetError:
    from deploy.k8s.client import KubeApplyError, KubeAuthError, KubeUnavailable

    cause = exc.cause if isinstance(exc, KubeApplyError) else exc
    if isinstance(cause, KubeAuthError):
        return TargetAuthError(str(exc))
    if isinstance(cause, KubeUnavailable):
        return TargetUnavailable(str(exc))
    return TargetError(str(exc))


@dataclass
class KubernetesTarget:
    """A Triton Deployment in one namespace of one cluster, through `deploy.k8s.client.KubeTarget`."""

    kube: Any  # deploy.k8s.client.KubeTarget
    namespace: str
    name: str
    poll_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def check(self) -> str:
        from deploy.k8s.client import KubeError

        try:
            return str(self.kube.check_auth(namespace=self.namespace))
        except KubeError as exc:
            raise _kube_error(exc) from exc

    def apply(self, revision: RevisionData) -> str:
        from deploy.k8s.client import KubeError
        from deploy.k8s.manifests import ManifestError

        try:
            applied = self.kube.apply(revision.manifests, field_manager=FIELD_MANAGER)
        except ManifestError as exc:
            raise TargetError(f"manifests are invalid: {exc}") from exc
        except KubeError as exc:
            raise _kube_error(exc) from exc
        return "applied " + ", ".join(str(a.ref) for a in applied)

    def wait(self, revision: RevisionData, deadline_s: float) -> str:
        from deploy.k8s.client import KubeError, RolloutTimeout

        try:
            status = self.kube.wait_for_rollout(
                self.namespace, self.name, deadline_s=deadline_s, poll_s=self.poll_s, sleep=self.sleep
            )
        except RolloutTimeout as exc:
            raise TargetTimeout(str(exc)) from exc
        except KubeError as exc:
            raise _kube_error(exc) from exc
        return f"rollout complete: {status.summary()}"

    def verify(self, revision: RevisionData) -> str:
        """The live Deployment runs this revision and all its replicas are ready.

        Readiness of a Triton pod is its readinessProbe on /v2/health/ready, which (strict
        readiness, Triton's default) is true only once the server and every model are ready, so
        ready replicas of this revision's pod template mean Triton and its models are ready.
        """
        from deploy.k8s.client import KubeError
        from deploy.k8s.manifests import REVISION_LABEL

        deployment = next(m for m in revision.manifests if m["kind"] == "Deployment")
        try:
            live = self.kube.get(deployment)
            status = self.kube.get_deployment_status(self.namespace, self.name)
        except KubeError as exc:
            raise _kube_error(exc) from exc
        labels = ((live.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        if labels.get(REVISION_LABEL) != str(revision.number):
            raise TargetError(
                f"the live Deployment runs revision {labels.get(REVISION_LABEL)!r}, not {revision.number}: "
                "someone else changed it during the rollout"
            )
        if not status.complete:
            raise TargetError(f"replicas are no longer ready: {status.summary()}")
        return f"revision {revision.number} live and ready ({status.ready_replicas} ready replicas)"

    def rollback(self, previous: RevisionData | None, current: RevisionData, deadline_s: float) -> str:
        from deploy.k8s.client import KubeError

        try:
            if previous is None:
                deleted = self.kube.delete(current.manifests)
                return "removed " + (", ".join(map(str, deleted)) or "nothing (nothing had been created)")
            self.kube.rollback(
                self.namespace, previous.manifests, current_objs=current.manifests, field_manager=FIELD_MANAGER
            )
        except KubeError as exc:
            raise _kube_error(exc) from exc
        return self.wait(previous, deadline_s)

    def close(self) -> None:
        self.kube.close()


# ---- local Triton -----------------------------------------------------------------------------


def _entry_spec(entry: dict[str, Any]) -> Any:
    from deploy.triton.repository import TensorSpec, TritonModelSpec, VersionPolicy

    def tensors(rows: list[dict[str, Any]]) -> list[TensorSpec]:
        return [TensorSpec(r["name"], r["data_type"], tuple(r["dims"])) for r in rows]

    return TritonModelSpec(
        name=entry["triton_name"],
        backend=entry["backend"],
        max_batch_size=int(entry["max_batch_size"]),
        inputs=tensors(entry["inputs"]),
        outputs=tensors(entry["outputs"]),
        version_policy=VersionPolicy.specific(int(entry["version"])),
        parameters={str(k): str(v) for k, v in (entry.get("parameters") or {}).items()},
    )


def write_local_entry(repository: Path, entry: dict[str, Any]) -> Path:
    """Write one revision entry into the local model repository, serving exactly its version."""
    from deploy.triton.builtin import MINILM_MODEL_PY, minilm_spec
    from deploy.triton.repository import InvalidModelConfig, VersionPolicy, write_model_entry

    source = entry["source"]
    version = int(entry["version"])
    try:
        if source == "builtin:minilm":
            spec = replace(minilm_spec(name=entry["triton_name"]), version_policy=VersionPolicy.specific(version))
            return write_model_entry(repository, spec, version, {"model.py": MINILM_MODEL_PY})
        if source.startswith("builtin:"):
            raise TargetError(f"unknown built-in model {source!r} (known: builtin:minilm)")
        if not source:
            raise TargetError(
                f"model {entry['model']} v{version} has no local artifact the local Triton target can load"
            )
        path = Path(source)
        if not path.exists():
            raise TargetError(f"artifact {path} of model {entry['model']} v{version} does not exist")
        files: dict[str, bytes | Path] = (
            {p.name: p for p in sorted(path.iterdir())} if path.is_dir() else {entry["file_name"]: path}
        )
        return write_model_entry(repository, _entry_spec(entry), version, files)
    except InvalidModelConfig as exc:
        raise TargetError(f"model {entry['model']} v{version}: {exc}") from exc


@dataclass
class LocalTritonTarget:
    """The portal's own tritonserver (explicit model control): write entries, load, check ready.

    `admin` is a `deploy.triton.client.TritonAdmin` for the local server URL; `repository` is
    the directory that server was started with (settings.TRITON_LOCAL_REPOSITORY).
    """

    admin: Any
    repository: Path
    sleep: Callable[[float], None] = time.sleep

    def _errors(self) -> tuple[type[Exception], type[Exception]]:
        from deploy.triton.client import TritonModelError, TritonUnavailable

        return TritonModelError, TritonUnavailable

    def check(self) -> str:
        if not self.admin.server_ready():
            raise TargetUnavailable(f"the local Triton server at {self.admin.url} is not ready")
        return f"local Triton at {self.admin.url} ready"

    def apply(self, revision: RevisionData) -> str:
        model_error, unavailable = self._errors()
        self.check()
        names = []
        for entry in revision.manifests:
            write_local_entry(Path(self.repository), entry)
            try:
                self.admin.load_model(entry["triton_name"])
            except unavailable as exc:
                raise TargetUnavailable(f"local Triton unreachable: {exc}") from exc
            except model_error as exc:
                raise TargetError(f"Triton could not load {entry['model']} v{entry['version']}: {exc}") from exc
            names.append(f"{entry['triton_name']} v{entry['version']}")
        return "loaded " + (", ".join(names) or "no models")

    def wait(self, revision: RevisionData, deadline_s: float) -> str:
        model_error, unavailable = self._errors()
        deadline = time.monotonic() + deadline_s
        pending = [(e["triton_name"], str(e["version"])) for e in revision.manifests]
        while pending:
            try:
                pending = [(n, v) for n, v in pending if not self.admin.model_ready(n, v)]
            except (model_error, unavailable) as exc:
                raise TargetError(f"readiness check failed: {exc}") from exc
            if pending and time.monotonic() >= deadline:
                raise TargetTimeout(
                    f"models not ready after {deadline_s:g}s: " + ", ".join(f"{n} v{v}" for n, v in pending)
                )
            if pending:
                self.sleep(0.2)
        return f"{len(revision.manifests)} model version(s) ready"

    def verify(self, revision: RevisionData) -> str:
        model_error, unavailable = self._errors()
        if not self.admin.server_ready():
            raise TargetError("the local Triton server is not ready")
        for entry in revision.manifests:
            try:
                config = self.admin.model_config(entry["triton_name"], str(entry["version"]))
                ready = self.admin.model_ready(entry["triton_name"], str(entry["version"]))
            except (model_error, unavailable) as exc:
                raise TargetError(f"{entry['triton_name']}: {exc}") from exc
            if not ready:
                raise TargetError(f"{entry['triton_name']} v{entry['version']} is not ready")
            served = (config.get("version_policy") or {}).get("specific", {}).get("versions") or []
            if [int(v) for v in served] != [int(entry["version"])]:
                raise TargetError(f"{entry['triton_name']} serves versions {served}, expected {entry['version']}")
        return "server ready; " + ", ".join(f"{e['triton_name']} v{e['version']} ready" for e in revision.manifests)

    def rollback(self, previous: RevisionData | None, current: RevisionData, deadline_s: float) -> str:
        model_error, unavailable = self._errors()
        keep = {e["triton_name"] for e in previous.manifests} if previous else set()
        removed = []
        for entry in current.manifests:
            name = entry["triton_name"]
            if name in keep:
                continue
            # never loaded, or already gone: nothing to undo on the server
            with contextlib.suppress(model_error, unavailable):
                self.admin.unload_model(name, wait_s=5.0)
            shutil.rmtree(Path(self.repository) / name, ignore_errors=True)
            removed.append(name)
        if previous is None:
            return "removed " + (", ".join(removed) or "nothing")
        self.apply(previous)
        return self.wait(previous, deadline_s)

    def close(self) -> None:
        self.admin.close()
