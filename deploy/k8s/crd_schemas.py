"""JSON schemas for the two custom resources the portal emits.

`kubernetes-validate` bundles schemas for built-in kinds only, so ServiceMonitor
(prometheus-operator) and InferenceService (KServe) are checked against the schemas here.

These schemas are a SUBSET of the upstream CRD `openAPIV3Schema`s:
- monitoring.coreos.com_servicemonitors.yaml (prometheus-operator v0.7x, `v1`)
- serving.kserve.io_inferenceservices.yaml (KServe 0.13+, `v1beta1`)
They cover only the fields `deploy.k8s.manifests` generates and forbid everything else
(`additionalProperties: false`). A real API server prunes or rejects (server-side apply
rejects) fields that are not in a CRD's structural schema, so failing closed on unknown fields
is the faithful direction; the cost is that a valid upstream field we never emit is rejected
here too. Extend the subset when the builder starts emitting a new field.
"""

from __future__ import annotations

from typing import Any

# Go duration as accepted by prometheus-operator's `Duration` type (e.g. "15s", "1m30s").
_DURATION_PATTERN = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"

_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}

_INT_OR_STRING: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

_QUANTITY_MAP: dict[str, Any] = {"type": "object", "additionalProperties": _INT_OR_STRING}

_RESOURCES: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"limits": _QUANTITY_MAP, "requests": _QUANTITY_MAP},
}

_ENV: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
    },
}

SERVICE_MONITOR_V1: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ServiceMonitor monitoring.coreos.com/v1 (subset of the upstream CRD schema)",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["selector"],  # upstream: spec.required = [selector]
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": _DURATION_PATTERN},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION_PATTERN},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}

INFERENCE_SERVICE_V1BETA1: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "InferenceService serving.kserve.io/v1beta1 (subset of the upstream CRD schema)",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["predictor"],  # upstream: spec.required = [predictor]
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 0},
                        "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
                        "scaleTarget": {"type": "integer"},
                        "nodeSelector": _STRING_MAP,
                        "tolerations": {"type": "array", "items": {"type": "object"}},
                        "model": {
                            "type": "object",
                            "required": ["modelFormat"],
                            "additionalProperties": False,
                            "properties": {
                                "modelFormat": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string"},
                                        "version": {"type": "string"},
                                    },
                                },
                                "runtime": {"type": "string"},
                                "runtimeVersion": {"type": "string"},
                                "protocolVersion": {"enum": ["v1", "v2", "grpc-v2"]},
                                "storageUri": {"type": "string"},
                                "args": {"type": "array", "items": {"type": "string"}},
                                "env": _ENV,
                                "resources": _RESOURCES,
                            },
                        },
                    },
                },
            },
        },
    },
}

CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_V1,
    ("serving.kserve.io/v1beta1", "InferenceService"): INFERENCE_SERVICE_V1BETA1,
}
