"""Registry rows -> their Triton model name, validated spec and ``config.pbtxt`` text.

The translation itself (plain JSON -> spec) is ``inference.triton.specs.version_spec``; this
module only reads a ``ModelVersion`` row (its model and tenant loaded) and names the model on
the shared local server.
"""

from __future__ import annotations

from inference.triton.repository import TritonModelSpec, render_config
from inference.triton.specs import triton_model_name, version_spec
from models_registry.models import ModelVersion


def triton_name_for(*, model_name: str, tenant_slug: str | None) -> str:
    """Name of the model on the shared local server: ``name`` if shared, else ``<slug>.<name>``."""
    return triton_model_name(model_name) if tenant_slug is None else triton_model_name(tenant_slug, model_name)


def version_triton_name(version: ModelVersion) -> str:
    model = version.model
    return triton_name_for(model_name=model.name, tenant_slug=model.tenant.slug if model.tenant_id else None)


def spec_for_version(version: ModelVersion, *, triton_name: str | None = None) -> TritonModelSpec:
    """:func:`inference.triton.specs.version_spec` for a ModelVersion row."""
    return version_spec(
        triton_name=triton_name or version_triton_name(version),
        backend=version.backend,
        max_batch_size=version.max_batch_size,
        inputs=version.inputs,
        outputs=version.outputs,
        parameters=version.parameters,
        serving=version.serving,
        version=version.version,
    )


def render_version_config(version: ModelVersion) -> str:
    """The ``config.pbtxt`` text the local target writes for ``version``."""
    return render_config(spec_for_version(version))
