"""A test double of the Kubernetes API server, served over real HTTP on 127.0.0.1.

No real cluster can run on these machines, so the client tests talk to this instead. The
official `kubernetes` client connects to it like to any API server (bearer token, JSON,
`Status` error bodies); nothing in the client is patched.

Built on kmock (`kmock.KubernetesEmulator` + `kmock.Server`): kmock provides the aiohttp server,
the discovery endpoints (/version, /api, /apis...), and the versioned object store
(`emulator.objects[resource, ns, name].history`). kmock's own verb handling is too loose for a
rollout client (PATCH is a naive dict merge with no server-side-apply, no metadata.generation,
resourceVersion, uid, validation, auth or namespace checks, and its path parser raises on
`POST /api/v1/namespaces`), so `_FaithfulEmulator.__call__` routes resource requests to the
semantics in `k8s_semantics` first and hands only discovery to kmock. What is emulated:

- auth: a wrong bearer token is 401 on every path; no token is `system:anonymous` (403 except
  /version); a token can be limited to namespaces (403 elsewhere, real RBAC wording).
- server-side apply (PATCH `application/apply-patch+yaml`, `fieldManager` required, `force`,
  `dryRun=All`), create (POST), get, list, delete (with `DeleteOptions.preconditions` on uid and
  resourceVersion: 409 when they do not match); 404 for missing objects, namespaces and
  uninstalled CRDs; 409 AlreadyExists / apply conflicts; 422 / 500 validation as upstream does.
- metadata: uid, creationTimestamp, a cluster-wide resourceVersion that changes on every write
  (not on a no-op apply), generation bumped only when non-metadata, non-status content changes,
  managedFields per manager.
- a Deployment "controller": every GET of a Deployment is one poll; per Deployment a
  `RolloutPlan` says after how many polls the rollout completes, or that it never does (and
  optionally then reports ProgressDeadlineExceeded).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import hashlib
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

import aiohttp.web
import kmock
import kubernetes.client
import yaml

from tests.support.k8s_semantics import (
    RESOURCE_TYPES,
    ApiError,
    Obj,
    ResourceType,
    apply_defaults,
    check_api_rules,
    check_schema,
    fields_v1,
    leaves,
    merge,
    remove_path,
    spec_part,
)

_NAMESPACE_RT = RESOURCE_TYPES[0]
_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES}
_NAMESPACED_PATH = re.compile(
    r"^/(?:api/(?P<core_version>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_NAMESPACES_PATH = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+))?/?$")
CONTROLLER_MANAGER = "kube-controller-manager"


@dataclass(frozen=True)
class TokenGrant:
    """Who a bearer token is, and which namespaces it may touch (None: the whole cluster)."""

    user: str
    namespaces: frozenset[str] | None = None


@dataclass(frozen=True)
class RolloutPlan:
    """How the fake Deployment controller progresses a rollout, counted in client polls (GETs).

    - mode "ready": complete from poll `ready_after_polls + 1` on (0: the first read sees it).
    - mode "stuck": never completes; from poll `deadline_after_polls + 1` on (if set), the
      Progressing condition turns False with reason ProgressDeadlineExceeded, as the real
      controller does once `progressDeadlineSeconds` pass without progress.
    `observe_after_polls` delays even observedGeneration, as a busy controller would.
    """

    mode: Literal["ready", "stuck"] = "ready"
    ready_after_polls: int = 0
    deadline_after_polls: int | None = None
    observe_after_polls: int = 0


@dataclass
class _PollState:
    generation: int
    polls: int = 0
    previous_available: int = 0


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: bytes
    grant: TokenGrant | None


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    status: int


class _FaithfulEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with resource requests routed to the double's API semantics."""

    double: KubeApiDouble

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        routed = self.double._serve(raw_request, body)
        if routed is not None:
            status, payload = routed
            return aiohttp.web.json_response(payload, status=status)
        return await super().__call__(raw_request)


@dataclass
class KubeApiDouble:
    """Start with `with KubeApiDouble() as api:`; point a client at `api.url` with `api.token`."""

    k8s_version: str = "1.31"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    default_plan: RolloutPlan = field(default_factory=RolloutPlan)
    installed_crds: set[str] = field(default_factory=lambda: {rt.plural for rt in RESOURCE_TYPES if rt.custom})
    url: str = ""
    tokens: dict[str, TokenGrant] = field(default_factory=dict)
    plans: dict[tuple[str, str], RolloutPlan] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    internal_errors: list[Exception] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens.setdefault(self.token, TokenGrant("system:admin"))
        self._lock = threading.RLock()
        self._resource_version = 1000
        self._polls: dict[tuple[str, str], _PollState] = {}
        # The last applied configuration per (object, manager): the basis of SSA field removal.
        self._applied: dict[tuple[Any, ...], Obj] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.emulator = _FaithfulEmulator()
        self.emulator.double = self
        for rt in RESOURCE_TYPES:
            self.emulator.resources[_kresource(rt)] = kmock.ResourceInfo(
                kind=rt.kind,
                namespaced=rt.namespaced,
                verbs={"get", "list", "create", "patch", "delete"},
            )

    # ---- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> KubeApiDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="k8s-api-double", daemon=True)
        self._thread.start()
        if not self._started.wait(15):
            raise RuntimeError("the Kubernetes API double did not start within 15 s")

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve_forever())
        self._loop.close()

    async def _serve_forever(self) -> None:
        self._stop = asyncio.Event()
        async with self.emulator, kmock.Server(self.emulator) as server:
            self.url = str(server.url).rstrip("/")
            self._started.set()
            await self._stop.wait()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        self._thread = None

    # ---- control API for tests -------------------------------------------------------------

    def api_client(self, token: str | None = None) -> kubernetes.client.ApiClient:
        config = kubernetes.client.Configuration(host=self.url)
        config.api_key = {"BearerToken": token or self.token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        return kubernetes.client.ApiClient(config)

    def add_token(self, user: str, namespaces: set[str] | None = None) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = TokenGrant(user, frozenset(namespaces) if namespaces is not None else None)
        return token

    def create_namespace(self, name: str) -> Obj:
        with self._lock:
            return self._create(
                _NAMESPACE_RT,
                None,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                False,
            )[1]

    def set_plan(self, namespace: str, name: str, plan: RolloutPlan) -> None:
        with self._lock:
            self.plans[(namespace, name)] = plan

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        with self._lock:
            obj = self._lookup(_rt_by_kind(kind), namespace, name)
            return copy.deepcopy(obj) if obj is not None else None

    def history(self, kind: str, namespace: str | None, name: str) -> list[Obj | None]:
        """Every stored version of the object (None marks a deletion), oldest first."""
        with self._lock:
            key = (_kresource(_rt_by_kind(kind)), namespace, name)
            if key not in self.emulator.objects:
                return []
            return [None if v is None else copy.deepcopy(v.raw) for v in self.emulator.objects[key].history]

    def objects(self, namespace: str | None = None) -> list[Obj]:
        with self._lock:
            return [
                copy.deepcopy(obj.raw)
                for (_, ns, _), obj in self.emulator.objects.items()
                if not obj.deleted and (namespace is None or ns == namespace)
            ]

    # ---- request handling (runs on the server thread) --------------------------------------

    def _serve(self, raw: aiohttp.web.BaseRequest, body: bytes) -> tuple[int, Any] | None:
        query = {k: v[-1] for k, v in parse_qs(raw.query_string).items()}
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            grant = self._authenticate(raw.headers.get("Authorization"))
            request = _Request(raw.method, raw.path, query, content_type, body, grant)
            with self._lock:
                result = self._dispatch(request)
            status = result[0] if result is not None else 200
        except ApiError as error:
            result, status = (error.code, error.status()), error.code
        except Exception as exc:
            self.internal_errors.append(exc)  # a bug in the double: tests assert there are none
            raise
        self.log.append(LoggedRequest(raw.method, raw.path, query, content_type, status))
        return result

    def _authenticate(self, header: str | None) -> TokenGrant | None:
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        grant = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return grant

    def _authorize(
        self, request: _Request, verb: str, rt: ResourceType, namespace: str | None, name: str | None
    ) -> None:
        grant = request.grant
        if grant is not None and (
            grant.namespaces is None or (namespace is not None and namespace in grant.namespaces)
        ):
            return
        user = grant.user if grant is not None else "system:anonymous"
        what = f'{rt.plural}.{rt.group} "{name}"' if name else f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{what} is forbidden: User "{user}" cannot {verb} resource "{rt.plural}" in API group "{rt.group}"{scope}',
            {"name": name or "", "group": rt.group, "kind": rt.plural},
        )

    def _dispatch(self, request: _Request) -> tuple[int, Any] | None:
        if request.path.rstrip("/") == "/version":
            # Served here rather than by kmock: kmock pins v1.26 and misses the client's "/version/".
            major, minor = self.k8s_version.split(".")[:2]
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": f"v{major}.{minor}.0",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        match = _NAMESPACES_PATH.match(request.path)
        if match:
            rt, namespace, name, sub = _NAMESPACE_RT, None, match["name"], None
        else:
            match = _NAMESPACED_PATH.match(request.path)
            if match is None:
                if request.grant is None:
                    self._authorize(request, "get", _NAMESPACE_RT, None, None)
                return None  # discovery and the like: kmock answers
            group, version = match["group"] or "", match["version"] or match["core_version"]
            found = _BY_PATH.get((group, version, match["plural"]))
            if found is None or (found.custom and found.plural not in self.installed_crds):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            rt = found
            namespace, name, sub = match["ns"], match["name"], match["sub"]
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete"}.get(
            request.method, request.method.lower()
        )
        self._authorize(request, verb, rt, namespace if rt.namespaced else name, name)
        if sub is not None:
            raise ApiError(404, "NotFound", "the test double serves no subresources")
        dry_run = request.query.get("dryRun") == "All"
        if request.method == "GET" and name:
            obj = self._require(rt, namespace, name)
            if rt.kind == "Deployment":
                obj = self._controller_poll(namespace or "", name)
            return 200, obj
        if request.method == "GET":
            items = [
                obj.raw
                for (res, ns, _), obj in self.emulator.objects.items()
                if res == _kresource(rt) and not obj.deleted and (ns == namespace or not rt.namespaced)
            ]
            meta = {"resourceVersion": str(self._resource_version)}
            return 200, {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": items,
            }
        if request.method == "POST" and not name:
            return self._create(rt, namespace, _parse_body(request), dry_run)
        if request.method == "PATCH" and name:
            if request.content_type != "application/apply-patch+yaml":
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the test double implements only application/apply-patch+yaml, not {request.content_type!r}",
                )
            return self._apply(rt, namespace, name, _parse_body(request), request.query, dry_run)
        if request.method == "DELETE" and name:
            options = _parse_body(request) if request.body else {}
            return self._delete(rt, namespace, name, dry_run, options.get("preconditions") or {})
        raise ApiError(405, "MethodNotAllowed", f"the test double does not serve {request.method} {request.path}")

    # ---- storage helpers ---------------------------------------------------------------------

    def _lookup(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        key = (_kresource(rt), namespace if rt.namespaced else None, name)
        if key not in self.emulator.objects or self.emulator.objects[key].deleted:
            return None
        return self.emulator.objects[key].raw

    def _require(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._lookup(rt, namespace, name)
        if obj is None:
            raise _not_found(rt, name)
        return obj

    def _store(self, rt: ResourceType, obj: Obj) -> Obj:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        key = (_kresource(rt), obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in self.emulator.objects:
            self.emulator.objects[key].create(copy.deepcopy(obj))  # appends a version to the history
        else:
            self.emulator.objects[key] = copy.deepcopy(obj)
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if rt.namespaced and self._lookup(_NAMESPACE_RT, None, namespace or "") is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )

    def _check_identity(self, rt: ResourceType, namespace: str | None, name: str | None, body: Obj) -> None:
        if body.get("apiVersion") != rt.api_version or body.get("kind") != rt.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) and kind ({body.get('kind')}) "
                f"do not match the expected {rt.api_version}, Kind={rt.kind}",
            )
        meta = body.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ApiError(400, "BadRequest", "metadata.name: Required value: name or generateName is required")
        if name is not None and meta["name"] != name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})",
            )
        if rt.namespaced and meta.get("namespace") not in (None, namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )

    def _finish_create(self, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
        meta = obj["metadata"]
        if rt.namespaced:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if rt.has_generation:
            meta["generation"] = 1
        if rt.kind == "Namespace":
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}

    def _create(self, rt: ResourceType, namespace: str | None, body: Obj, dry_run: bool) -> tuple[int, Obj]:
        self._check_identity(rt, namespace, None, body)
        self._check_namespace(rt, namespace)
        name = body["metadata"]["name"]
        if self._lookup(rt, namespace, name) is not None:
            qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise ApiError(
                409,
                "AlreadyExists",
                f'{qualified} "{name}" already exists',
                {"name": name, "kind": rt.plural},
            )
        obj = copy.deepcopy(body)
        obj.pop("status", None)
        check_schema(rt, obj, self.k8s_version, namespace)
        apply_defaults(rt, obj)
        check_api_rules(rt, obj, None)
        self._finish_create(rt, namespace, obj)
        return 201, obj if dry_run else copy.deepcopy(self._store(rt, obj))

    def _apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        query: dict[str, str],
        dry_run: bool,
    ) -> tuple[int, Obj]:
        manager = query.get("fieldManager", "")
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
            )
        force = query.get("force") == "true"
        self._check_identity(rt, namespace, name, body)
        if body["metadata"].get("managedFields"):
            raise ApiError(400, "BadRequest", "metadata.managedFields must be nil")
        self._check_namespace(rt, namespace)
        config = copy.deepcopy(body)
        config.pop("status", None)  # the main resource ignores status; it has its own subresource
        for server_field in ("uid", "generation", "creationTimestamp"):
            config["metadata"].pop(server_field, None)
        expected_rv = config["metadata"].pop("resourceVersion", None)
        check_schema(rt, config, self.k8s_version, namespace, partial=True)

        existing = self._lookup(rt, namespace, name)
        object_key = (rt.kind, namespace, name)
        if existing is None:
            if expected_rv:
                raise _not_found(rt, name)
            obj = copy.deepcopy(config)
            apply_defaults(rt, obj)
            check_schema(rt, obj, self.k8s_version, namespace)
            check_api_rules(rt, obj, None)
            self._finish_create(rt, namespace, obj)
            obj["metadata"]["managedFields"] = [_managed_entry(manager, "Apply", rt, config)]
            if not dry_run:
                self._applied = {k: v for k, v in self._applied.items() if k[:3] != object_key}
                self._applied[(*object_key, manager)] = config
                self._store(rt, obj)
            return 201, copy.deepcopy(obj)

        if expected_rv and expected_rv != existing["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.plural} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )
        applied = {k[3]: v for k, v in self._applied.items() if k[:3] == object_key}
        new_leaves = dict(leaves(spec_and_meta(config)))
        conflicts: list[tuple[str, tuple[str, ...]]] = []
        for other, other_config in applied.items():
            if other == manager:
                continue
            for path, value in leaves(spec_and_meta(other_config)):
                if path in new_leaves and new_leaves[path] != value:
                    conflicts.append((other, path))
        if conflicts and not force:
            listed = "\n".join(f'- conflict with "{m}": .{".".join(p)}' for m, p in conflicts)
            raise ApiError(
                409,
                "Conflict",
                f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: {listed}",
            )
        new_applied = dict(applied)
        for other, path in conflicts:  # force: ownership moves to this manager
            other_config = copy.deepcopy(new_applied[other])
            remove_path(other_config, path)
            new_applied[other] = other_config

        obj = copy.deepcopy(existing)
        previous = applied.get(manager, {})
        owned_by_others = {p for m, c in new_applied.items() if m != manager for p, _ in leaves(spec_and_meta(c))}
        for path, _ in leaves(spec_and_meta(previous)):
            if path not in new_leaves and path not in owned_by_others:
                remove_path(obj, path)
        obj = merge(obj, config)
        apply_defaults(rt, obj)
        check_schema(rt, _without_server_fields(obj), self.k8s_version, namespace)
        check_api_rules(rt, obj, existing)
        new_applied[manager] = config
        obj["metadata"]["managedFields"] = _managed_fields(existing, new_applied, rt)
        unchanged = _without_times(obj) == _without_times(existing)
        if unchanged:
            return 200, copy.deepcopy(existing)  # a no-op apply writes nothing: resourceVersion stays
        if rt.has_generation and spec_part(obj) != spec_part(existing):
            obj["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
        if not dry_run:
            for other, other_config in new_applied.items():
                self._applied[(*object_key, other)] = other_config
            self._store(rt, obj)
        return 200, copy.deepcopy(obj)

    def _delete(
        self, rt: ResourceType, namespace: str | None, name: str, dry_run: bool, preconditions: dict[str, Any]
    ) -> tuple[int, Obj]:
        obj = self._require(rt, namespace, name)
        # DeleteOptions.preconditions: the delete applies only to the object with that uid /
        # resourceVersion; otherwise 409 Conflict with the API server's wording.
        qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            expected = preconditions.get(key)
            if expected and expected != obj["metadata"].get(key):
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {qualified} "{name}": Precondition failed: '
                    f"{label} in precondition: {expected}, {label} in object meta: {obj['metadata'].get(key)}",
                )
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"]["uid"]},
        }
        if dry_run:
            return 200, status
        doomed = [(_kresource(rt), namespace if rt.namespaced else None, name)]
        if rt.kind == "Namespace":
            # A real namespace goes Terminating and its content is removed asynchronously; the
            # double removes everything at once.
            doomed += [key for key, o in self.emulator.objects.items() if key[1] == name and not o.deleted]
        for key in doomed:
            self._resource_version += 1
            self.emulator.objects[key].delete()
            self._applied = {k: v for k, v in self._applied.items() if (k[1], k[2]) != (key[1], key[2])}
        self._polls.pop((namespace or "", name), None)
        return 200, status

    # ---- the fake Deployment controller ------------------------------------------------------

    def _controller_poll(self, namespace: str, name: str) -> Obj:
        rt = _rt_by_kind("Deployment")
        obj = copy.deepcopy(self._require(rt, namespace, name))
        generation = obj["metadata"]["generation"]
        state = self._polls.get((namespace, name))
        if state is None or state.generation != generation:
            previous = obj.get("status", {})
            carried = previous.get("availableReplicas", 0) if state is not None else 0
            state = _PollState(generation, 0, carried)
            self._polls[(namespace, name)] = state
        state.polls += 1
        plan = self.plans.get((namespace, name), self.default_plan)
        if state.polls <= plan.observe_after_polls:
            return obj
        replicas = obj["spec"].get("replicas", 1)
        rs_name = f"{name}-{_template_hash(obj)}"
        old = state.previous_available
        if plan.mode == "ready" and state.polls > plan.ready_after_polls:
            status = {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    _condition(
                        "Available",
                        "True",
                        "MinimumReplicasAvailable",
                        "Deployment has minimum availability.",
                    ),
                    _condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        f'ReplicaSet "{rs_name}" has successfully progressed.',
                    ),
                ],
            }
        else:
            # maxUnavailable 0 / maxSurge 1: one new pod surges while the old ones keep serving.
            progressing = _condition(
                "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
            )
            if (
                plan.mode == "stuck"
                and plan.deadline_after_polls is not None
                and state.polls > plan.deadline_after_polls
            ):
                progressing = _condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
            available = (
                _condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
                if old >= replicas > 0
                else _condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            )
            status = {
                "observedGeneration": generation,
                "replicas": old + 1 if old else replicas,
                "updatedReplicas": 1 if old else replicas,
                "readyReplicas": old,
                "availableReplicas": old,
                "unavailableReplicas": max(replicas - old, 0) or 1,
                "conditions": [available, progressing],
            }
        if _strip_condition_times(obj.get("status")) == _strip_condition_times(status):
            return obj
        obj["status"] = status
        entries = [e for e in obj["metadata"].get("managedFields", []) if e.get("manager") != CONTROLLER_MANAGER]
        entry = _managed_entry(CONTROLLER_MANAGER, "Update", rt, {"status": status})
        entry["subresource"] = "status"
        obj["metadata"]["managedFields"] = [*entries, entry]
        return copy.deepcopy(self._store(rt, obj))


def spec_and_meta(config: Obj) -> Obj:
    """The fields a manager owns, without identity (apiVersion, kind, name, namespace)."""
    out = {k: v for k, v in config.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = {k: v for k, v in config.get("metadata", {}).items() if k not in ("name", "namespace")}
    if meta:
        out["metadata"] = meta
    return out


def _kresource(rt: ResourceType) -> kmock.resource:
    return kmock.resource(group=rt.group, version=rt.version, plural=rt.plural)


def _rt_by_kind(kind: str) -> ResourceType:
    for rt in RESOURCE_TYPES:
        if rt.kind == kind:
            return rt
    raise KeyError(kind)


def _not_found(rt: ResourceType, name: str) -> ApiError:
    qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    return ApiError(
        404,
        "NotFound",
        f'{qualified} "{name}" not found',
        {"name": name, "group": rt.group, "kind": rt.plural},
    )


def _parse_body(request: _Request) -> Obj:
    try:
        body = yaml.safe_load(request.body.decode()) if request.body else None  # JSON is YAML
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"error decoding the request body: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be an object")
    return body


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _managed_entry(manager: str, operation: str, rt: ResourceType, config: Obj) -> Obj:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": rt.api_version,
        "time": _now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(spec_and_meta(config) if operation == "Apply" else config),
    }


def _managed_fields(existing: Obj, applied: dict[str, Obj], rt: ResourceType) -> list[Obj]:
    kept = [e for e in existing["metadata"].get("managedFields", []) if e.get("operation") != "Apply"]
    previous = {e["manager"]: e for e in existing["metadata"].get("managedFields", []) if e.get("operation") == "Apply"}
    entries = []
    for manager, config in applied.items():
        entry = _managed_entry(manager, "Apply", rt, config)
        old = previous.get(manager)
        if old is not None and old.get("fieldsV1") == entry["fieldsV1"]:
            entry["time"] = old["time"]  # unchanged ownership keeps its timestamp
        if entry["fieldsV1"]:
            entries.append(entry)
    return entries + kept


def _without_server_fields(obj: Obj) -> Obj:
    """The object as a client could have sent it: the schema check of a merged object."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    for key in ("managedFields", "uid", "resourceVersion", "generation", "creationTimestamp"):
        out["metadata"].pop(key, None)
    return out


def _without_times(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    for entry in out["metadata"].get("managedFields", []):
        entry.pop("time", None)
    return out


def _condition(kind: str, status: str, reason: str, message: str) -> Obj:
    now = _now()
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _strip_condition_times(status: Obj | None) -> Obj | None:
    if status is None:
        return None
    out = copy.deepcopy(status)
    for cond in out.get("conditions", []):
        cond.pop("lastUpdateTime", None)
        cond.pop("lastTransitionTime", None)
    return out


def _template_hash(obj: Obj) -> str:
    template = json.dumps(obj["spec"].get("template", {}), sort_keys=True)
    return hashlib.sha256(template.encode()).hexdigest()[:10]
