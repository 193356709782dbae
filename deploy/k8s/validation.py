"""Offline validation of manifests: the schemas a real API server applies, without a server.

Built-in kinds are checked with `kubernetes-validate` (`validate(data, version, strict=True)`;
its bundled schemas cover Kubernetes 1.25 ... 1.37 in this release). Strict mode makes unknown
fields errors, which is what server-side apply does. Custom resources (ServiceMonitor,
InferenceService) are checked against the CRD subsets in `crd_schemas`. On top of the OpenAPI
schema, `api_server_rule_problems` adds the few rules the API server enforces in code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
import kubernetes_validate
from packaging.version import InvalidVersion, Version

from deploy.k8s.crd_schemas import CRD_SCHEMAS
from deploy.k8s.naming import ManifestError, check_dns1123_label, check_dns1123_subdomain

Manifest = dict[str, Any]


def supported_k8s_versions() -> list[str]:
    """Kubernetes minor versions whose schemas `kubernetes-validate` bundles (e.g. 1.25 ... 1.37)."""
    versions = {".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()}
    return sorted(versions, key=Version)


def _check_version(k8s_version: str) -> str:
    # kubernetes-validate compares versions as strings ("1.4" > "1.37"), so pin it to a known one.
    try:
        wanted = Version(k8s_version.removeprefix("v"))
    except InvalidVersion as exc:
        raise ManifestError(f"k8s_version {k8s_version!r} is not a version") from exc
    minor = f"{wanted.major}.{wanted.minor}"
    if minor not in supported_k8s_versions():
        supported = ", ".join(supported_k8s_versions())
        raise ManifestError(f"k8s_version {k8s_version!r} has no bundled schemas; supported: {supported}")
    return minor


def _ref(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        return "<not an object>"
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), Mapping) else None
    return f"{obj.get('kind', '?')}/{name or '?'}"


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<root>"


def find_manifest_problems(objs: Iterable[Manifest], k8s_version: str = "1.31") -> list[str]:
    """Every schema or API-server-rule violation in `objs`, as "Kind/name: path: message" lines."""
    minor = _check_version(k8s_version)
    problems: list[str] = []
    for obj in objs:
        ref = _ref(obj)
        if not isinstance(obj, Mapping) or not obj.get("apiVersion") or not obj.get("kind"):
            problems.append(f"{ref}: apiVersion and kind are required")
            continue
        crd_schema = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
        if crd_schema is not None:
            validator = jsonschema.Draft202012Validator(crd_schema)
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                problems.append(f"{ref}: {_path(error.path)}: {error.message}")
        else:
            try:
                kubernetes_validate.validate(dict(obj), minor, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{ref}: {_path(error.path)}: {error.message}")
                continue
            except kubernetes_validate.SchemaNotFoundError as error:
                problems.append(f"{ref}: {error.message}")
                continue
        problems.extend(f"{ref}: {p}" for p in api_server_rule_problems(obj))
    return problems


def api_server_rule_problems(obj: Mapping[str, Any]) -> list[str]:
    """Rules the API server enforces that the OpenAPI schema does not express.

    The schema marks only `name` required on a container, yet the API server rejects a
    Deployment without `image`; the same goes for name syntax and selector/template agreement.
    """
    problems: list[str] = []
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        return ["metadata.name: Required value"]
    try:
        check_dns1123_subdomain(meta["name"], "metadata.name")
        if meta.get("namespace") is not None:
            check_dns1123_label(meta["namespace"], "metadata.namespace")
    except ManifestError as exc:
        problems.append(str(exc))
    if obj.get("kind") != "Deployment":
        return problems
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        problems.append("spec.selector: Required value")
    elif any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append("spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        problems.append("spec.template.spec.containers: Required value")
    for i, container in enumerate(containers):
        where = f"spec.template.spec.containers[{i}]"
        if not container.get("image"):
            problems.append(f"{where}.image: Required value")
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for resource, limit in limits.items():
            extended = "/" in resource and not resource.startswith("kubernetes.io/")
            if extended and resource in requests and str(requests[resource]) != str(limit):
                problems.append(f"{where}.resources.requests[{resource}]: Invalid value: must be equal to limit")
    return problems


def validate_manifests(objs: Iterable[Manifest], k8s_version: str = "1.31") -> None:
    """Raise `ManifestError` listing every problem found by `find_manifest_problems`."""
    problems = find_manifest_problems(objs, k8s_version)
    if problems:
        raise ManifestError(f"{len(problems)} invalid manifest field(s): " + "; ".join(problems), problems)
