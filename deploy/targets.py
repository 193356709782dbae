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
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from deploy.constants import FIELD_MANAGER
from deploy.k8s.client import (
    KubeApplyError,
    KubeAuthError,
    KubeError,
    KubeForeignObject,
    KubeTarget,
    KubeUnavailable,
    ObjectRef,
    RolloutTimeout,
)
from deploy.k8s.manifests import OWNER_LABELS, REVISION_LABEL, ManifestError
from inference.triton.client import TritonAdmin, TritonModelError, TritonUnavailable
from inference.triton.local import (
    ArtifactError,
    LocalTritonConfig,
    StagedArtifact,
    load_version,
    local_server_ensure,
    unload_model,
)
from inference.triton.repository import InvalidModelConfig
from inference.triton.server import TritonStartError
from inference.triton.specs import default_artifact_name, version_spec


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


class TargetNothingApplied(TargetError):
    """Refused before anything was sent (e.g. a foreign object holds a manifest's name): the
    live revision, if any, is untouched, so there is nothing to roll back."""


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
    """The TargetError for a client error, with its tenant-readable text (never a response body)."""
    cause = exc.cause if isinstance(exc, KubeApplyError) else exc
    text = exc.public if isinstance(exc, KubeError) else str(exc)
    if isinstance(cause, KubeAuthError):
        return TargetAuthError(text)
    if isinstance(cause, KubeUnavailable):
        return TargetUnavailable(text)
    if isinstance(cause, KubeForeignObject):
        return TargetNothingApplied(text)
    return TargetError(text)


def _left_alone(skipped: list[ObjectRef]) -> str:
    if not skipped:
        return ""
    return "; left alone (not this deployment's): " + ", ".join(map(str, skipped))


@dataclass
class KubernetesTarget:
    """A Triton Deployment in one namespace of one cluster, through `deploy.k8s.client.KubeTarget`."""

    kube: KubeTarget
    namespace: str
    name: str
    poll_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def check(self) -> str:

        try:
            return str(self.kube.check_auth(namespace=self.namespace))
        except KubeError as exc:
            raise _kube_error(exc) from exc

    def apply(self, revision: RevisionData) -> str:

        try:
            # Only objects carrying this tenant's and deployment's labels are ever overwritten.
            applied = self.kube.apply(revision.manifests, field_manager=FIELD_MANAGER, owner_labels=OWNER_LABELS)
        except ManifestError as exc:
            raise TargetError(f"manifests are invalid: {exc}") from exc
        except KubeError as exc:
            raise _kube_error(exc) from exc
        return "applied " + ", ".join(str(a.ref) for a in applied)

    def wait(self, revision: RevisionData, deadline_s: float) -> str:

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

        skipped: list[ObjectRef] = []
        try:
            if previous is None:
                deleted = self.kube.delete(current.manifests, owner_labels=OWNER_LABELS, skipped=skipped)
                return (
                    "removed "
                    + (", ".join(map(str, deleted)) or "nothing (nothing had been created)")
                    + (_left_alone(skipped))
                )
            self.kube.rollback(
                self.namespace,
                previous.manifests,
                current_objs=current.manifests,
                field_manager=FIELD_MANAGER,
                owner_labels=OWNER_LABELS,
                skipped=skipped,
            )
        except KubeError as exc:
            raise _kube_error(exc) from exc
        return self.wait(previous, deadline_s) + _left_alone(skipped)

    def close(self) -> None:
        self.kube.close()


# ---- local Triton -----------------------------------------------------------------------------


class ArtifactPolicy(Protocol):
    """The gate between an artifact and the shared local server (models_registry.trust.LocalArtifactPolicy):
    resolves the allowed source, copies and hashes it, applies the approval and limit rules, and
    yields the copy to load; raises ArtifactError with the reason otherwise."""

    def staged(
        self,
        *,
        backend: str,
        artifact_name: str,
        within: Path,
        upload_path: str = "",
        artifact_uri: str = "",
        recorded_sha256: str = "",
        parameters: Mapping[str, Any] | None = None,
        max_batch_size: int = 0,
        serving: Mapping[str, Any] | None = None,
    ) -> AbstractContextManager[StagedArtifact]: ...


def _entry_artifact(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(stored upload path, artifact URI, file name) of an entry.

    Revisions are immutable and may be re-applied long after they were recorded; entries written
    before the registry's functions served this target carry `source` (a builtin: URI or a local
    path) and `file_name` instead, which the artifact policy reads as a URI just the same (and
    refuses unless it is in an allowed location).
    """

    if "artifact_uri" not in entry:
        return "", str(entry.get("source") or ""), str(entry.get("file_name") or "")
    name = entry.get("artifact_name") or default_artifact_name(entry["backend"])
    return str(entry.get("artifact_upload") or ""), str(entry["artifact_uri"]), str(name)


def local_entry_load(admin: TritonAdmin, repository: Path, entry: dict[str, Any], policy: ArtifactPolicy) -> str:
    """Write one revision entry into the local repository and load it, serving exactly its version.

    The registry's code does the work (`version_spec` with the version's serving knobs, the
    artifact policy's copy, `load_version`), so a deployment and the registry's own local serving
    turn a version into the same Triton entry under the same rules: allowed artifact locations,
    the shared server's knob limits, and no tenant code without a platform operator's approval
    of its digest. A python-backend version without a model.py is refused before Triton is asked
    (tritonserver 2.51 never answers such a load).
    Raises TargetError (bad spec, artifact refused, Triton refused) or TargetUnavailable.
    """

    version = int(entry["version"])
    label = f"{entry['model']} v{version}"
    upload, uri, file_name = _entry_artifact(entry)
    try:
        spec = version_spec(
            triton_name=entry["triton_name"],
            backend=entry["backend"],
            max_batch_size=entry["max_batch_size"],
            inputs=entry["inputs"],
            outputs=entry["outputs"],
            parameters=entry.get("parameters"),
            serving=entry.get("serving"),
            version=version,
        )
        with policy.staged(
            backend=entry["backend"],
            artifact_name=file_name,
            within=Path(repository),
            upload_path=upload,
            artifact_uri=uri,
            recorded_sha256=str(entry.get("artifact_sha256") or ""),
            parameters=entry.get("parameters"),
            max_batch_size=int(entry["max_batch_size"]),
            serving=entry.get("serving"),
        ) as art:
            outcome = load_version(admin, repository=Path(repository), spec=spec, version=version, files=art.files)
    except (InvalidModelConfig, ArtifactError) as exc:
        raise TargetError(f"model {label}: {exc}") from exc
    except TritonUnavailable as exc:
        raise TargetUnavailable(f"local Triton unreachable: {exc}") from exc
    if not outcome.ok:
        raise TargetError(f"Triton could not load {label}: {outcome.reason}")
    return f"{entry['triton_name']} v{version}"


@dataclass
class LocalTritonTarget:
    """The portal's own tritonserver (explicit model control): write entries, load, check ready.

    `admin` is a `inference.triton.client.TritonAdmin` for the local server URL; `repository` is
    the directory that server was started with (settings.TRITON_LOCAL_REPOSITORY); `policy` is
    the deployment owner's artifact policy (there is no default: no policy, no load). With `config`
    (a `inference.triton.local.LocalTritonConfig`), `check` starts the server when nothing
    answers, as the registry's local serving does; without it a server that is down is
    TargetUnavailable.
    """

    admin: TritonAdmin
    repository: Path
    policy: ArtifactPolicy
    sleep: Callable[[float], None] = time.sleep
    config: LocalTritonConfig | None = None

    def check(self) -> str:
        if not self.admin.server_ready() and self.config is not None:
            try:
                local_server_ensure(self.config).close()
            except TritonStartError as exc:
                raise TargetError(f"the local tritonserver did not start: {exc}") from exc
        if not self.admin.server_ready():
            raise TargetUnavailable(f"the local Triton server at {self.admin.url} is not ready")
        return f"local Triton at {self.admin.url} ready"

    def apply(self, revision: RevisionData) -> str:
        self.check()
        names = [
            local_entry_load(self.admin, Path(self.repository), entry, self.policy) for entry in revision.manifests
        ]
        return "loaded " + (", ".join(names) or "no models")

    def wait(self, revision: RevisionData, deadline_s: float) -> str:
        deadline = time.monotonic() + deadline_s
        pending = [(e["triton_name"], str(e["version"])) for e in revision.manifests]
        while pending:
            try:
                pending = [(n, v) for n, v in pending if not self.admin.model_ready(n, v)]
            except (TritonModelError, TritonUnavailable) as exc:
                raise TargetError(f"readiness check failed: {exc}") from exc
            if pending and time.monotonic() >= deadline:
                raise TargetTimeout(
                    f"models not ready after {deadline_s:g}s: " + ", ".join(f"{n} v{v}" for n, v in pending)
                )
            if pending:
                self.sleep(0.2)
        return f"{len(revision.manifests)} model version(s) ready"

    def verify(self, revision: RevisionData) -> str:
        if not self.admin.server_ready():
            raise TargetError("the local Triton server is not ready")
        for entry in revision.manifests:
            try:
                config = self.admin.model_config(entry["triton_name"], str(entry["version"]))
                ready = self.admin.model_ready(entry["triton_name"], str(entry["version"]))
            except (TritonModelError, TritonUnavailable) as exc:
                raise TargetError(f"{entry['triton_name']}: {exc}") from exc
            if not ready:
                raise TargetError(f"{entry['triton_name']} v{entry['version']} is not ready")
            served = (config.get("version_policy") or {}).get("specific", {}).get("versions") or []
            if [int(v) for v in served] != [int(entry["version"])]:
                raise TargetError(f"{entry['triton_name']} serves versions {served}, expected {entry['version']}")
        return "server ready; " + ", ".join(f"{e['triton_name']} v{e['version']} ready" for e in revision.manifests)

    def rollback(self, previous: RevisionData | None, current: RevisionData, deadline_s: float) -> str:

        keep = {e["triton_name"] for e in previous.manifests} if previous else set()
        removed = []
        for entry in current.manifests:
            name = entry["triton_name"]
            if name in keep:
                continue
            # never loaded, or already gone: nothing to undo on the server
            with contextlib.suppress(TritonUnavailable):
                unload_model(self.admin, name, wait_s=5.0)
            shutil.rmtree(Path(self.repository) / name, ignore_errors=True)
            removed.append(name)
        if previous is None:
            return "removed " + (", ".join(removed) or "nothing")
        self.apply(previous)
        return self.wait(previous, deadline_s)

    def close(self) -> None:
        self.admin.close()
