"""Read paths of the registry. Reads see the tenant's own rows plus platform-shared ones
(`visible_to`); the `*_writable` selectors see only the tenant's own rows, so a shared model or
another tenant's model resolves to NotFound for any write."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from inference.triton.client import TritonAdmin
from inference.triton.local import LocalTritonConfig, ServerStatus, local_server_status
from models_registry.backends import local_triton_config
from models_registry.models import LocalServing, ModelAlias, ModelVersion, RegisteredModel
from portal.exceptions import NotFound
from tenants.models import Tenant


def model_list(*, tenant: Tenant) -> QuerySet[RegisteredModel]:
    # RegistryQuerySet.visible_to is typed on the base Model, hence the ignore below.
    return (
        RegisteredModel.objects.visible_to(tenant)  # type: ignore[return-value]
        .select_related("tenant", "created_by")
        .annotate(version_count=Count("versions", distinct=True))
        .prefetch_related(Prefetch("aliases", queryset=ModelAlias.objects.all_tenants().select_related("version")))
        .order_by("tenant_id", "name")
    )


def model_get(*, tenant: Tenant, model_id: Any) -> RegisteredModel:
    model = model_list(tenant=tenant).filter(pk=_int(model_id)).first()
    if model is None:
        raise NotFound("Model not found.")
    return model


def model_get_writable(*, tenant: Tenant, model_id: Any) -> RegisteredModel:
    """The tenant's own model; platform-shared and other tenants' models are NotFound here."""
    model = RegisteredModel.objects.for_tenant(tenant).select_related("tenant").filter(pk=_int(model_id)).first()
    if model is None:
        raise NotFound("Model not found in this tenant (platform-shared models are read-only).")
    return model


def model_get_writable_by_name(*, tenant: Tenant, name: str) -> RegisteredModel | None:
    """The tenant's own model called ``name`` (platform-shared ones excluded), or None."""
    return RegisteredModel.objects.for_tenant(tenant).filter(name=name).first()


def version_list(*, model: RegisteredModel) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.all_tenants()
        .filter(model=model)
        .select_related("model", "model__tenant", "created_by", "serving_state")
        .prefetch_related(Prefetch("aliases", queryset=ModelAlias.objects.all_tenants()))
        .order_by("-version")
    )


def version_get(*, model: RegisteredModel, number: Any) -> ModelVersion:
    version = version_list(model=model).filter(version=_int(number)).first()
    if version is None:
        raise NotFound(f"Model {model.name} has no version {number}.")
    return version


def version_get_visible(*, tenant: Tenant, version_id: Any) -> ModelVersion | None:
    """A version by primary key (e.g. from a request body) if the tenant can see it, else None."""
    return ModelVersion.objects.visible_to(tenant).select_related("model").filter(pk=_int(version_id)).first()


def alias_list(*, model: RegisteredModel) -> QuerySet[ModelAlias]:
    return ModelAlias.objects.all_tenants().filter(model=model).select_related("version").order_by("name")


def alias_get(*, model: RegisteredModel, name: str) -> ModelAlias:
    alias = alias_list(model=model).filter(name=name).first()
    if alias is None:
        raise NotFound(f"Model {model.name} has no alias '{name}'.")
    return alias


def serving_list(*, tenant: Tenant) -> QuerySet[LocalServing]:
    return (
        LocalServing.objects.visible_to(tenant)
        .select_related("version", "version__model", "version__model__tenant")
        .order_by("-updated_at")
    )


def version_compare(*, model: RegisteredModel, numbers: Iterable[int] | None = None) -> dict[str, Any]:
    """Side-by-side metrics of versions (all, or the given numbers), with deltas to the first.

    Returns ``{"versions": [n...], "metrics": [{"name", "values": {n: v}, "delta": {n: v - first},
    "best": n}]}``. Non-numeric metric values are shown but get no delta; "best" is the highest
    numeric value unless the metric name looks like a loss/latency/error (lower is better).
    """
    qs = version_list(model=model)
    if numbers:
        wanted = sorted({int(n) for n in numbers})
        qs = qs.filter(version__in=wanted)
        found = {v.version for v in qs}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise NotFound(f"Model {model.name} has no version(s) {missing}.")
    versions = sorted(qs, key=lambda v: v.version)
    names = sorted({k for v in versions for k in (v.metrics or {})})
    rows = []
    for name in names:
        values = {v.version: (v.metrics or {}).get(name) for v in versions}
        numeric = {n: x for n, x in values.items() if isinstance(x, int | float) and not isinstance(x, bool)}
        base = numeric.get(versions[0].version) if versions else None
        delta = {n: round(x - base, 6) for n, x in numeric.items()} if base is not None else {}
        lower_better = any(s in name.lower() for s in ("loss", "latency", "error", "perplexity", "ms"))
        best = (min if lower_better else max)(numeric, key=lambda n: numeric[n]) if numeric else None
        rows.append({"name": name, "values": values, "delta": delta, "best": best, "lower_is_better": lower_better})
    return {"versions": [v.version for v in versions], "metrics": rows}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None


def serving_server_status(*, tenant: Tenant, config: LocalTritonConfig | None = None) -> ServerStatus:
    """Live status of the local tritonserver, listing only models this tenant may see.

    Visible: Triton models named after the tenant's own serving rows, and platform-shared models
    (whose Triton name is the model name). Other tenants' models on the same server are hidden.
    """
    config = config or local_triton_config()
    names = set(serving_list(tenant=tenant).values_list("triton_name", flat=True))
    names |= set(RegisteredModel.objects.visible_to(tenant).filter(tenant__isnull=True).values_list("name", flat=True))
    admin = TritonAdmin(config.http_url, timeout_s=10.0)
    try:
        status = local_server_status(admin, metrics_url=config.metrics_url)
    finally:
        admin.close()
    status.models = [m for m in status.models if m.name in names]
    return status
