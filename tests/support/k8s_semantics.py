"""API-server semantics the Kubernetes test double reproduces, as pure functions on dicts.

Kept apart from the HTTP plumbing in `k8s_double` so each rule can be read (and checked
against the upstream behaviour it cites) on its own. Nothing here imports the code under test
except the CRD schema subsets, which play the role of CRDs "installed" in the fake cluster.

Server-side apply model (simplified from structured-merge-diff, documented where it differs):
- A field manager's *applied configuration* is remembered per object. Re-applying replaces it:
  fields the manager set before and omits now are removed, unless another manager also set
  them. Maps merge key by key; lists are treated as atomic (replaced whole), whereas the real
  server merges associative lists such as `containers` by key. With one applying manager per
  object, which is how the portal works, the results are identical.
- Leaf fields set by another *Apply* manager to a different value are conflicts: 409 unless
  `force=true`, which transfers ownership.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate

from deploy.k8s.crd_schemas import CRD_SCHEMAS

Path = tuple[str, ...]
Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    # Whether the registry strategy maintains metadata.generation (workloads, policies, all CRs).
    has_generation: bool
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, has_generation=False),
    ResourceType("", "v1", "configmaps", "ConfigMap", namespaced=True, has_generation=False),
    ResourceType("", "v1", "services", "Service", namespaced=True, has_generation=False),
    ResourceType("apps", "v1", "deployments", "Deployment", namespaced=True, has_generation=True),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, has_generation=True),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, has_generation=True),
    ResourceType("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", True, True, custom=True),
    ResourceType("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService", True, True, custom=True),
)


class ApiError(Exception):
    """An error the double answers with a `Status` body, exactly as the API server shapes it."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, dict(details or {})

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid, e.g. `Deployment.apps "x" is invalid: spec.template...image: Required value`."""
    qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = ", ".join(f"{field}: {msg}" for field, msg in causes)
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field} for field, msg in causes],
        },
    )


def _schema_path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "<root>"


def check_schema(rt: ResourceType, obj: Obj, k8s_version: str, namespace: str | None, *, partial: bool = False) -> None:
    """Type-check an object like the API server does.

    Real server-side apply converts the patch to a typed object first; an unknown field or a
    wrong type fails there with HTTP 500 "failed to create typed patch object" (a known
    upstream quirk: kubernetes/kubernetes#122480, #139253), not 422. The double reproduces it,
    so clients must not read every 500 as "server down". `partial=True` checks an apply
    configuration, which may omit required fields (they can come from the live object);
    the merged result is then checked in full, where a missing required field is 422.
    """
    name = obj.get("metadata", {}).get("name", "")
    if rt.custom:
        schema = CRD_SCHEMAS[(rt.api_version, rt.kind)]
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(obj))
    else:
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
            errors = []
        except kubernetes_validate.ValidationError as caught:
            errors = [caught]
    if not errors:
        return
    error = min(errors, key=lambda e: len(list(e.absolute_path)))
    path = _schema_path(error)
    if error.validator == "required":
        if partial:
            return
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = f"{path}.{missing[0]}" if missing and path != "<root>" else (missing[0] if missing else path)
        raise invalid(rt, name, [(field, "Required value")])
    if rt.custom and error.validator != "additionalProperties":
        raise invalid(rt, name, [(path, f"Invalid value: {json.dumps(error.instance)}: {error.message}")])
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)' was unexpected", error.message)
        field_path = f".{path}.{extra[0]}" if extra else f".{path}"
        problem = "field not declared in schema"
    else:
        field_path, problem = (
            f".{path}",
            f"expected {error.validator_value}, got {json.dumps(error.instance)}",
        )
    where = f"{namespace}/{name}" if namespace else name
    raise ApiError(
        500,
        "InternalError",
        f"failed to create typed patch object ({where}; {rt.api_version}, Kind={rt.kind}): "
        f"{field_path.replace('.<root>', '')}: {problem}",
    )


def check_api_rules(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """The validation the API server does in code (not expressible in the OpenAPI schema)."""
    name = obj["metadata"]["name"]
    causes: list[tuple[str, str]] = []
    limit = 63 if rt.kind in ("Namespace", "Service") else 253
    pattern = _LABEL if rt.kind in ("Namespace", "Service") else _SUBDOMAIN
    if len(name) > limit or not pattern.match(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 name is required'))
    if rt.kind == "Deployment":
        spec = obj.get("spec", {})
        template = spec.get("template", {})
        selector = spec.get("selector", {}).get("matchLabels") or {}
        labels = template.get("metadata", {}).get("labels") or {}
        if not selector:
            causes.append(("spec.selector", "Required value"))
        elif any(labels.get(k) != v for k, v in selector.items()):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "Invalid value: `selector` does not match template `labels`",
                )
            )
        containers = template.get("spec", {}).get("containers") or []
        if not containers:
            causes.append(("spec.template.spec.containers", "Required value"))
        for i, container in enumerate(containers):
            if not container.get("image"):
                causes.append((f"spec.template.spec.containers[{i}].image", "Required value"))
        if old is not None and old.get("spec", {}).get("selector") != spec.get("selector"):
            causes.append(("spec.selector", "Invalid value: field is immutable"))
    if causes:
        raise invalid(rt, name, causes)


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """A few server-side defaults and normalizations, as the API server does on every write.

    Defaults belong to no field manager. Quantities come back as strings (`1` -> `"1"`): the
    server stores `resource.Quantity`, whose JSON form is a string.
    """
    for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        for section in ("limits", "requests"):
            values = container.get("resources", {}).get(section) or {}
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values[key] = str(value)
    if rt.kind == "Deployment":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("revisionHistoryLimit", 10)
    elif rt.kind == "Service":
        obj.setdefault("spec", {}).setdefault("sessionAffinity", "None")


def leaves(obj: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Leaf paths of nested maps; a list is one leaf (atomic, see module docstring)."""
    if isinstance(obj, Mapping) and obj:
        for key, value in obj.items():
            yield from leaves(value, (*prefix, key))
    elif prefix:  # an empty root has no leaves
        yield prefix, obj


def get_path(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            raise KeyError(path)
        obj = obj[key]
    return obj


def remove_path(obj: Obj, path: Path) -> None:
    """Remove `path` and any map left empty by the removal."""
    if not path:
        return
    parents: list[Obj] = [obj]
    for key in path[:-1]:
        nxt = parents[-1].get(key)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for depth in range(len(parents) - 1, 0, -1):
        if not parents[depth]:
            parents[depth - 1].pop(path[depth - 1], None)


def merge(base: Obj, overlay: Mapping[str, Any]) -> Obj:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def fields_v1(obj: Any) -> Any:
    """A managedFields `fieldsV1` set in the upstream notation (f:, k:, .)."""
    if isinstance(obj, Mapping):
        return {f"f:{key}": fields_v1(value) for key, value in obj.items()}
    if isinstance(obj, list) and obj and all(isinstance(i, Mapping) and "name" in i for i in obj):
        return {
            "k:" + json.dumps({"name": item["name"]}, separators=(",", ":")): {".": {}, **fields_v1(item)}
            for item in obj
        }
    return {}


def spec_part(obj: Mapping[str, Any]) -> Obj:
    """Everything that bumps metadata.generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
