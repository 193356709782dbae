"""Kubernetes client layer for portal rollouts: apply, watch a rollout, delete, roll back.

`KubeTarget` wraps one `kubernetes.client.ApiClient` (one cluster, one set of credentials, which
the caller decrypts and passes in). It speaks raw JSON through `ApiClient.param_serialize` /
`call_api` instead of the typed `AppsV1Api` models: server-side apply has no typed method for
custom resources, and raw dicts survive fields a newer API server adds that the generated
pydantic models (client 37.x) would reject.

Why not `kubernetes.dynamic.DynamicClient.server_side_apply`: it needs API discovery first
(a dozen requests) and caches discovery in a file under the shared temp dir. A fixed table of
the eight kinds the portal emits is enough; an uninstalled CRD still shows up as a 404.

Invariants:
- `apply` is all-or-nothing as far as the API allows: every object is validated locally, then
  (by default) dry-run on the server (`dryRun=All`), and only then applied for real, in
  dependency order. A rejection mid-way raises `KubeApplyError` naming what was applied.
- Applies use server-side apply with one field manager, so re-applying identical manifests is
  a no-op (no new generation, no rollout) and omitting a field removes it.
- Errors are classified: `KubeUnavailable` is the only transient (retryable) one. Each error's
  `public` text is what a tenant may read: the status code and Kubernetes' reason word, never the
  response body (kept in `detail` and the exception text, for logs).
- Connections go only where `deploy.k8s.egress.EgressPolicy` allows, checked on the address
  actually connected to, for every connection (no environment proxy in between).
- Given `owner_labels`, `apply` refuses (before changing anything) to overwrite an existing
  object whose labels are not the manifest's, and `delete` leaves such objects alone.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes.client
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from deploy.k8s.egress import EgressPolicy, EgressRefused
from deploy.k8s.manifests import ManifestError, validate_manifests

FIELD_MANAGER = "llmops-portal"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds per request
# Connection failures are retried twice, quickly; a read that timed out is not retried, so a
# hung API server costs one read timeout, not four.
_RETRIES = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.2)


@dataclass(frozen=True)
class ResourceKind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


# Apply order: what others reference comes first (a Deployment mounts the ConfigMap, an HPA and
# a PDB target the Deployment, a ServiceMonitor selects the Service). Deletion runs in reverse.
KINDS: tuple[ResourceKind, ...] = (
    ResourceKind("v1", "Namespace", "namespaces", namespaced=False),
    ResourceKind("v1", "ConfigMap", "configmaps"),
    ResourceKind("v1", "Service", "services"),
    ResourceKind("apps/v1", "Deployment", "deployments"),
    ResourceKind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    ResourceKind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ResourceKind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors"),
    ResourceKind("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices"),
)
_KIND_INDEX = {(k.api_version, k.kind): i for i, k in enumerate(KINDS)}


# ---- errors -------------------------------------------------------------------------------


class KubeError(Exception):
    """Base of every error this module raises about the cluster (not about manifests).

    `public`: the sentence a tenant may read (no response body); `detail`: the API server's own
    message, if any (logs and operators only)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        public: str | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason
        self.public = public or message
        self.detail = detail


class KubeEgressRefused(KubeError):
    """The API server's address is not one the portal may connect to (deploy.k8s.egress)."""


class KubeForeignObject(KubeError):
    """An object with a manifest's name exists but is not this tenant's and deployment's."""


class KubeAuthError(KubeError):
    """401 (credentials rejected) or 403 (authenticated, not allowed)."""


class KubeUnavailable(KubeError):
    """Cannot reach the API server, it timed out, or it answered 429/5xx: worth retrying."""

    retryable = True


class KubeNotFound(KubeError):
    """The object, its namespace, or its resource type (CRD not installed) does not exist."""


class KubeConflict(KubeError):
    """409: an apply conflict with another field manager, or an AlreadyExists."""


class KubeInvalid(KubeError):
    """The API server rejected the object's content (400, 422, or SSA's typed-patch 500)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        causes: Sequence[Mapping[str, Any]] = (),
        public: str | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, status=status, reason=reason, public=public, detail=detail)
        self.causes = [dict(c) for c in causes]


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))


class KubeApplyError(KubeError):
    """Applying a list failed at `failed`; `applied` lists what had already been applied."""

    def __init__(
        self, message: str, *, applied: list[ObjectRef], failed: ObjectRef, cause: KubeError, public: str = ""
    ) -> None:
        super().__init__(message, status=cause.status, reason=cause.reason, public=public, detail=cause.detail)
        self.applied, self.failed, self.cause = applied, failed, cause
        self.retryable = cause.retryable


@dataclass(frozen=True)
class AppliedObject:
    ref: ObjectRef
    resource_version: str
    generation: int | None
    created: bool


@dataclass(frozen=True)
class DeploymentCondition:
    type: str
    status: str
    reason: str | None
    message: str | None


@dataclass(frozen=True)
class RolloutStatus:
    """A Deployment's rollout state, judged like `kubectl rollout status`.

    `complete`: the controller has seen the latest spec (observedGeneration >= generation) and
    every replica is updated, ready and available, with no old replica left.
    `failed_reason`: set when the controller reports ProgressDeadlineExceeded for that spec.
    """

    generation: int
    observed_generation: int
    replicas: int  # desired (spec.replicas)
    status_replicas: int  # pods that exist, old and new
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    conditions: tuple[DeploymentCondition, ...]
    complete: bool
    failed_reason: str | None

    def summary(self) -> str:
        return (
            f"generation {self.generation} (observed {self.observed_generation}), desired {self.replicas}, "
            f"updated {self.updated_replicas}, ready {self.ready_replicas}, "
            f"available {self.available_replicas}, total {self.status_replicas}"
        )

    @classmethod
    def from_deployment(cls, obj: Mapping[str, Any]) -> RolloutStatus:
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        generation = int(meta.get("generation") or 0)
        observed = int(status.get("observedGeneration") or 0)
        desired = int(spec.get("replicas", 1))
        counts = {
            k: int(status.get(k) or 0) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        }
        conditions = tuple(
            DeploymentCondition(c.get("type", ""), c.get("status", ""), c.get("reason"), c.get("message"))
            for c in status.get("conditions") or []
        )
        seen = observed >= generation
        complete = seen and all(v == desired for v in counts.values())
        failed_reason = None
        if seen and not complete:
            for cond in conditions:
                if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                    failed_reason = f"ProgressDeadlineExceeded: {cond.message}" if cond.message else cond.reason
        return cls(
            generation=generation,
            observed_generation=observed,
            replicas=desired,
            status_replicas=counts["replicas"],
            updated_replicas=counts["updatedReplicas"],
            ready_replicas=counts["readyReplicas"],
            available_replicas=counts["availableReplicas"],
            conditions=conditions,
            complete=complete,
            failed_reason=failed_reason,
        )


class RolloutError(KubeError):
    def __init__(self, message: str, status: RolloutStatus | None) -> None:
        super().__init__(message)
        self.rollout = status


class RolloutTimeout(RolloutError):
    """The rollout did not complete before the caller's deadline."""


class RolloutFailed(RolloutError):
    """The Deployment controller gave up (ProgressDeadlineExceeded)."""


# ---- the client ---------------------------------------------------------------------------


class KubeTarget:
    """One cluster, one identity. Thread-compatible (one instance per task), not thread-safe."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        k8s_version: str = "1.31",
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        _tempdir: str | None = None,
    ) -> None:
        self.api = api_client
        self.k8s_version = k8s_version
        self.request_timeout = request_timeout
        self._tempdir = _tempdir

    # -- construction from stored credentials --

    @classmethod
    def from_credentials(
        cls,
        *,
        host: str | None = None,
        token: str | None = None,
        ca_cert_pem: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        verify_ssl: bool = True,
        k8s_version: str = "1.31",
        request_timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        egress: EgressPolicy | None = None,
    ) -> KubeTarget:
        """Build from kubeconfig text, or from host + bearer token (+ CA PEM), already decrypted.

        The server URL must pass `egress` (default: the strictest policy, public https only);
        every connection is checked again against it. Kubeconfigs are restricted to embedded
        data (see `_config_from_kubeconfig`). Raises ValueError.
        """
        egress = egress if egress is not None else EgressPolicy()
        tempdir = None
        if kubeconfig is not None:
            config, tempdir = _config_from_kubeconfig(kubeconfig, context)
        else:
            if not host or not token:
                raise ValueError("from_credentials needs kubeconfig=..., or host=... and token=...")
            config = kubernetes.client.Configuration(host=host.rstrip("/"))
            config.api_key = {"BearerToken": token}
            config.api_key_prefix = {"BearerToken": "Bearer"}
            config.verify_ssl = verify_ssl
            if ca_cert_pem:
                config.ca_cert_data = ca_cert_pem
        try:
            config.host = egress.check_url(config.host, resolve=False)
        except EgressRefused:
            if tempdir:
                shutil.rmtree(tempdir, ignore_errors=True)
            raise
        config.retries = _RETRIES
        config.proxy = None  # an environment proxy would resolve the host where the rule cannot see it
        api = kubernetes.client.ApiClient(config)
        _guard_connections(api, egress)
        return cls(api, k8s_version=k8s_version, request_timeout=request_timeout, _tempdir=tempdir)

    def close(self) -> None:
        self.api.close()
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> KubeTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        host = self.api.configuration.host
        try:
            response = self.api.call_api(*request, _request_timeout=self.request_timeout)
            response.read()
        except EgressRefused as exc:
            raise KubeEgressRefused(str(exc)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeUnavailable(f"cannot reach the Kubernetes API at {host}: {_root_cause(exc)}") from exc
        except ApiException as exc:  # the REST layer reports TLS failures as status 0
            raise KubeUnavailable(f"cannot reach the Kubernetes API at {host}: {exc.reason}") from exc
        except OSError as exc:
            raise KubeUnavailable(f"cannot reach the Kubernetes API at {host}: {exc}") from exc
        try:
            data = json.loads(response.data or b"{}")
        except ValueError:
            data = {"message": (response.data or b"")[:200].decode(errors="replace")}
        if not isinstance(data, dict):
            data = {}
        if not 200 <= response.status < 300:
            raise _error_from_status(response.status, data, host)
        return response.status, data

    # -- operations --

    def check_auth(self, namespace: str | None = None) -> str:
        """Prove the credentials work; return the server's gitVersion.

        Reads /version (any valid identity may), then, given a namespace, lists Deployments
        there: the least privilege a rollout needs. Raises KubeAuthError / KubeUnavailable.
        """
        _, version = self._request("GET", "/version")
        if namespace is not None:
            self._request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments", query=[("limit", "1")])
        return str(version.get("gitVersion", ""))

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The live object for a manifest (same apiVersion/kind/namespace/name)."""
        ref = ObjectRef.of(obj)
        return self._request("GET", _kind_of(ref).path(ref.namespace, ref.name))[1]

    def apply(
        self,
        objs: Iterable[Mapping[str, Any]],
        *,
        field_manager: str = FIELD_MANAGER,
        force_conflicts: bool = True,
        validate: bool = True,
        server_dry_run: bool = True,
        owner_labels: Sequence[str] = (),
    ) -> list[AppliedObject]:
        """Server-side apply `objs` in dependency order; return what the server stored.

        Raises ManifestError (local validation, nothing sent), KubeForeignObject (with
        `owner_labels`: an object of that name exists and is not the manifest's owner's; nothing
        was sent), KubeApplyError (the server refused one object; `.applied` lists those already
        applied, empty when the dry run refused it). `force_conflicts` takes fields over from
        other managers (e.g. someone's `kubectl edit`) of the portal's own objects, which is what a
        rollout of a portal revision means.
        """
        ordered = sorted((copy.deepcopy(dict(o)) for o in objs), key=_apply_rank)
        for obj in ordered:
            ref = ObjectRef.of(obj)
            kind = _kind_of(ref)
            if kind.namespaced and not ref.namespace:
                raise ManifestError(f"{ref}: metadata.namespace is required")
        if validate:
            validate_manifests(ordered, self.k8s_version)
        if owner_labels:
            for obj in ordered:
                live = self._live(obj)
                if live is not None and not _owned(live, obj, owner_labels):
                    raise KubeForeignObject(_foreign_message(obj, owner_labels), status=409, reason="AlreadyExists")
        if server_dry_run:
            for obj in ordered:
                try:
                    self._apply_one(obj, field_manager, force_conflicts, dry_run=True)
                except KubeError as exc:
                    ref = ObjectRef.of(obj)
                    raise KubeApplyError(
                        f"server dry run rejected {ref}, nothing was applied: {exc}",
                        applied=[],
                        failed=ref,
                        cause=exc,
                        public=f"server dry run rejected {ref}, nothing was applied: {exc.public}",
                    ) from exc
        applied: list[AppliedObject] = []
        for obj in ordered:
            try:
                applied.append(self._apply_one(obj, field_manager, force_conflicts, dry_run=False))
            except KubeError as exc:
                ref = ObjectRef.of(obj)
                done = [a.ref for a in applied]
                listed = ", ".join(map(str, done)) or "nothing"
                raise KubeApplyError(
                    f"applying {ref} failed after {listed} had been applied: {exc}",
                    applied=done,
                    failed=ref,
                    cause=exc,
                    public=f"applying {ref} failed after {listed} had been applied: {exc.public}",
                ) from exc
        return applied

    def _apply_one(self, obj: dict[str, Any], field_manager: str, force: bool, *, dry_run: bool) -> AppliedObject:
        ref = ObjectRef.of(obj)
        query = [("fieldManager", field_manager), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        try:
            status, stored = self._request(
                "PATCH",
                _kind_of(ref).path(ref.namespace, ref.name),
                query=query,
                body=obj,
                content_type=APPLY_CONTENT_TYPE,
            )
        except KubeNotFound as exc:
            if exc.reason == "NotFound" and "could not find the requested resource" in str(exc):
                text = f"the cluster does not serve {ref.api_version} {ref.kind} (is its CRD installed?)"
                raise KubeNotFound(text, status=404, reason="NotFound", public=text) from exc
            raise
        meta = stored.get("metadata") or {}
        generation = meta.get("generation")
        return AppliedObject(
            ref, str(meta.get("resourceVersion", "")), int(generation) if generation else None, status == 201
        )

    def get_deployment_status(self, namespace: str, name: str) -> RolloutStatus:
        _, obj = self._request("GET", _kind_by_kind("Deployment").path(namespace, name))
        return RolloutStatus.from_deployment(obj)

    def wait_for_rollout(
        self,
        namespace: str,
        name: str,
        deadline_s: float,
        poll_s: float = 2.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RolloutStatus:
        """Poll until the rollout completes. Raises RolloutFailed, RolloutTimeout, KubeError.

        Transient API errors (KubeUnavailable) are retried until the deadline: a blip in the
        control plane is not a failed rollout. Any other KubeError is raised at once.
        """
        deadline = time.monotonic() + deadline_s
        last: RolloutStatus | None = None
        while True:
            try:
                last = self.get_deployment_status(namespace, name)
            except KubeUnavailable:
                if time.monotonic() >= deadline:
                    raise
            else:
                if last.complete:
                    return last
                if last.failed_reason:
                    raise RolloutFailed(f"rollout of {namespace}/{name} failed: {last.failed_reason}", last)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = last.summary() if last else "no status read"
                raise RolloutTimeout(
                    f"rollout of {namespace}/{name} not complete after {deadline_s:g}s: {detail}", last
                )
            sleep(min(poll_s, remaining))

    def _live(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return self.get(obj)
        except KubeNotFound:
            return None

    def delete(
        self,
        objs: Iterable[Mapping[str, Any]],
        *,
        propagation: str = "Background",
        owner_labels: Sequence[str] = (),
        skipped: list[ObjectRef] | None = None,
    ) -> list[ObjectRef]:
        """Delete in reverse dependency order; objects already gone are skipped (idempotent).

        With `owner_labels`, an object whose live labels are not the manifest's is left alone
        (appended to `skipped`), and the delete carries the checked object's uid as a
        precondition, so an object replaced in between is not deleted either.
        """
        deleted: list[ObjectRef] = []
        for obj in sorted(objs, key=_apply_rank, reverse=True):
            ref = ObjectRef.of(obj)
            body: dict[str, Any] | None = None
            if owner_labels:
                live = self._live(obj)
                if live is None:
                    continue
                if not _owned(live, obj, owner_labels):
                    if skipped is not None:
                        skipped.append(ref)
                    continue
                uid = (live.get("metadata") or {}).get("uid")
                body = {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "propagationPolicy": propagation,
                    "preconditions": {"uid": uid},
                }
            try:
                self._request(
                    "DELETE",
                    _kind_of(ref).path(ref.namespace, ref.name),
                    query=[("propagationPolicy", propagation)],
                    body=body,
                    content_type="application/json" if body is not None else None,
                )
            except KubeNotFound:
                continue
            except KubeConflict:
                if not owner_labels:
                    raise
                if skipped is not None:  # replaced since it was checked: not ours to delete
                    skipped.append(ref)
                continue
            deleted.append(ref)
        return deleted

    def rollback(
        self,
        namespace: str,
        previous_objs: Sequence[Mapping[str, Any]],
        *,
        current_objs: Sequence[Mapping[str, Any]] = (),
        field_manager: str = FIELD_MANAGER,
        owner_labels: Sequence[str] = (),
        skipped: list[ObjectRef] | None = None,
    ) -> list[AppliedObject]:
        """Return the cluster to a previous portal revision by re-applying its manifests.

        Not `kubectl rollout undo`: that is client-side logic which copies the previous
        ReplicaSet's pod template into the Deployment, and restores nothing else (ConfigMap,
        Service, HPA stay at the new revision). The portal keeps every revision's manifests,
        so re-applying them with the same field manager restores all objects, and server-side
        apply removes fields the newer revision added. Objects in `current_objs` that the
        previous revision lacks are deleted afterwards.
        """
        for obj in (*previous_objs, *current_objs):
            ref = ObjectRef.of(obj)
            if _kind_of(ref).namespaced and ref.namespace != namespace:
                raise ManifestError(f"{ref} is not in namespace {namespace!r}")
        applied = self.apply(previous_objs, field_manager=field_manager, owner_labels=owner_labels)
        keep = {ObjectRef.of(o) for o in previous_objs}
        self.delete(
            [o for o in current_objs if ObjectRef.of(o) not in keep], owner_labels=owner_labels, skipped=skipped
        )
        return applied


# ---- helpers --------------------------------------------------------------------------------


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _owned(live: Mapping[str, Any], manifest: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """The live object carries the manifest's value of every owner label (and the manifest has them)."""
    want, have = _labels(manifest), _labels(live)
    return all(want.get(k) and have.get(k) == want.get(k) for k in keys)


def _foreign_message(manifest: Mapping[str, Any], keys: Sequence[str]) -> str:
    want = _labels(manifest)
    expected = ", ".join(f"{k}={want.get(k)}" for k in keys)
    return (
        f"{ObjectRef.of(manifest)} already exists and is not this deployment's (it lacks the labels {expected}); "
        "nothing was changed: rename the deployment or remove that object"
    )


def kubeconfig_server(text: str, context: str | None = None) -> str:
    """The API server URL of a kubeconfig's context, checked like `from_credentials` would (ValueError)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"kubeconfig is not valid YAML: {exc}") from exc
    except RecursionError:  # "[[[[..." nested past the parser's stack: not a kubeconfig
        raise ValueError("kubeconfig is nested too deeply to be a kubeconfig") from None
    if not isinstance(doc, dict):
        raise ValueError("kubeconfig must be a YAML mapping")
    ctx = _named(doc.get("contexts"), context or doc.get("current-context"), "context")
    cluster = _named(doc.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(doc.get("users"), ctx.get("user"), "user")
    bad = sorted(_FORBIDDEN_USER_KEYS & user.keys()) + sorted(_FORBIDDEN_CLUSTER_KEYS & cluster.keys())
    if bad:
        raise ValueError(f"kubeconfig uses unsupported keys {bad}: embed credentials as token or *-data fields")
    if not cluster.get("server"):
        raise ValueError("kubeconfig cluster has no server")
    return str(cluster["server"])


def _kind_of(ref: ObjectRef) -> ResourceKind:
    index = _KIND_INDEX.get((ref.api_version, ref.kind))
    if index is None:
        known = ", ".join(f"{k.api_version} {k.kind}" for k in KINDS)
        raise ManifestError(f"{ref}: unsupported kind {ref.api_version} {ref.kind}; supported: {known}")
    return KINDS[index]


def _kind_by_kind(kind: str) -> ResourceKind:
    return next(k for k in KINDS if k.kind == kind)


def _apply_rank(obj: Mapping[str, Any]) -> int:
    return _KIND_INDEX.get((str(obj.get("apiVersion")), str(obj.get("kind"))), len(KINDS))


def _root_cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason is not None else str(exc)


_REASON_WORD = re.compile(r"^[A-Za-z]{1,64}$")


def _error_from_status(code: int, status: Mapping[str, Any], host: str) -> KubeError:
    """Classify an error answer. `public` says what happened with the status code and the
    Kubernetes reason word only: the body (whatever answered, perhaps not Kubernetes at all) is
    never shown to a tenant; it stays in the exception text and `detail` for the logs."""
    detail = str(status.get("message") or "")[:2000]
    message = detail or f"HTTP {code}"
    raw_reason = status.get("reason")
    reason = raw_reason if isinstance(raw_reason, str) and _REASON_WORD.match(raw_reason) else None
    said = f"{code} {reason}" if reason else str(code)
    kw: dict[str, Any] = {"status": code, "reason": reason, "detail": detail}
    if code == 401:
        text = (
            f"the Kubernetes API at {host} rejected the credentials (401 Unauthorized): "
            "the token is wrong, expired or revoked"
        )
        return KubeAuthError(text, public=text, **kw)
    if code == 403:
        return KubeAuthError(
            f"the credentials are not allowed to do this (403 Forbidden): {message}",
            public="the credentials are not allowed to do this (403 Forbidden)",
            **kw,
        )
    if code == 404:
        return KubeNotFound(message, public=f"the Kubernetes API answered {said}: not found", **kw)
    if code == 409:
        return KubeConflict(message, public=f"the Kubernetes API answered {said}: a conflicting change", **kw)
    details = status.get("details")
    causes = (details.get("causes") if isinstance(details, dict) else None) or []
    if code in (400, 415, 422) or (code == 500 and "failed to create typed patch object" in message):
        # SSA reports unknown fields and wrong types as a 500 (kubernetes/kubernetes#122480): it
        # is the request that is wrong, and retrying it can never succeed.
        return KubeInvalid(
            message,
            causes=causes if isinstance(causes, list) else [],
            public=f"the Kubernetes API answered {said}: it rejected the object as invalid",
            **kw,
        )
    if code == 429 or code >= 500:
        return KubeUnavailable(
            f"the Kubernetes API at {host} answered {code}: {message}",
            public=f"the Kubernetes API at {host} answered {said}",
            **kw,
        )
    return KubeError(message, public=f"the Kubernetes API at {host} answered {said}", **kw)


class _GuardedConnection:
    """Mixed into urllib3's connection classes: resolve and check the host for each new socket,
    then connect to the checked address (TLS and the Host header still use the host name)."""

    egress: EgressPolicy
    scheme_name = "https"

    def _new_conn(self) -> Any:
        original = self._dns_host  # type: ignore[has-type]
        address = self.egress.pick_address(original.rstrip("."), self.port, scheme=self.scheme_name)  # type: ignore[attr-defined]
        self._dns_host = address
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = original


def _guard_connections(api: kubernetes.client.ApiClient, egress: EgressPolicy) -> None:
    """Make every connection of `api` go through the egress rule (see `_GuardedConnection`)."""
    pool_manager = api.rest_client.pool_manager
    if isinstance(pool_manager, urllib3.ProxyManager):  # pragma: no cover - proxy is disabled above
        raise ValueError("tenant clusters are reached directly, not through a proxy")
    http_conn = type(
        "GuardedHTTPConnection",
        (_GuardedConnection, urllib3.connection.HTTPConnection),
        {"egress": egress, "scheme_name": "http"},
    )
    https_conn = type(
        "GuardedHTTPSConnection", (_GuardedConnection, urllib3.connection.HTTPSConnection), {"egress": egress}
    )
    pool_manager.pool_classes_by_scheme = {
        "http": type("GuardedHTTPConnectionPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSConnectionPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


_FORBIDDEN_USER_KEYS = {
    "exec",
    "auth-provider",
    "tokenFile",
    "client-certificate",
    "client-key",
    "username",
    "password",
}
_FORBIDDEN_CLUSTER_KEYS = {"certificate-authority"}


def _named(items: Any, name: str | None, what: str) -> dict[str, Any]:
    # Tenant-supplied YAML: any shape may arrive (`contexts: 5`, `context: [1]`); a wrong shape
    # is a ValueError (a 400 naming the kubeconfig), never a TypeError (a 500).
    if items is not None and not isinstance(items, list):
        raise ValueError(f"kubeconfig {what}s must be a list")
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            found = item.get(what) or {}
            if not isinstance(found, dict):
                raise ValueError(f"kubeconfig {what} {name!r} must be a mapping")
            return dict(found)
    raise ValueError(f"kubeconfig has no {what} named {str(name)[:100]!r}")


def _config_from_kubeconfig(text: str, context: str | None) -> tuple[kubernetes.client.Configuration, str | None]:
    """Parse the safe subset of a kubeconfig: embedded CA, bearer token or client cert data.

    `exec` and `auth-provider` users run programs on the portal host, and file references
    (`certificate-authority`, `client-key`, `tokenFile`) read the portal's own files, so a
    tenant-supplied kubeconfig using them is refused. Client certificates are written to a
    private directory removed by `KubeTarget.close()`, because urllib3 loads them from files.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"kubeconfig is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("kubeconfig must be a YAML mapping")
    context_name = context or doc.get("current-context")
    ctx = _named(doc.get("contexts"), context_name, "context")
    cluster = _named(doc.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(doc.get("users"), ctx.get("user"), "user")
    bad = sorted(_FORBIDDEN_USER_KEYS & user.keys()) + sorted(_FORBIDDEN_CLUSTER_KEYS & cluster.keys())
    if bad:
        raise ValueError(f"kubeconfig uses unsupported keys {bad}: embed credentials as token or *-data fields")
    if not cluster.get("server"):
        raise ValueError("kubeconfig cluster has no server")
    config = kubernetes.client.Configuration(host=str(cluster["server"]).rstrip("/"))
    if cluster.get("certificate-authority-data"):
        config.ca_cert_data = base64.b64decode(cluster["certificate-authority-data"]).decode()
    config.verify_ssl = not cluster.get("insecure-skip-tls-verify", False)
    if cluster.get("tls-server-name"):
        config.tls_server_name = cluster["tls-server-name"]
    tempdir = None
    if user.get("token"):
        config.api_key = {"BearerToken": str(user["token"])}
        config.api_key_prefix = {"BearerToken": "Bearer"}
    elif user.get("client-certificate-data") and user.get("client-key-data"):
        tempdir = tempfile.mkdtemp(prefix="portal-kube-")  # mode 0700
        for key, attr in (("client-certificate-data", "cert_file"), ("client-key-data", "key_file")):
            path = os.path.join(tempdir, key)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64decode(user[key]))
            setattr(config, attr, path)
    else:
        raise ValueError("kubeconfig user needs a token or client-certificate-data + client-key-data")
    return config, tempdir
