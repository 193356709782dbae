"""Console pages of the registry under /t/<slug>/models/: list, model detail (versions, aliases,
metrics comparison), version registration with upload, version detail, and the Serving page.

Each POST calls one service and redirects; service errors become a flash message."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from models_registry.constants import WELL_KNOWN_ALIASES
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.selectors import (
    alias_list,
    model_get,
    model_get_writable,
    model_list,
    serving_list,
    serving_server_status,
    version_compare,
    version_get,
    version_list,
)
from models_registry.services import (
    alias_capability,
    alias_set,
    model_create,
    serving_request,
    serving_unload_request,
    version_register,
)
from models_registry.triton_specs import render_version_config
from portal.exceptions import ApplicationError
from tenants.console.base import TenantConsoleView


class ModelListView(TenantConsoleView):
    capability = "models.read"
    method_capability = {"post": "models.write"}

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "models_registry/list.html",
            {
                "models": model_list(tenant=self.tenant),
                "tasks": RegisteredModel.Task.choices,
                "can_write": self.can("models.write"),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        try:
            model = model_create(
                tenant=self.tenant,
                actor=self.actor,
                name=request.POST.get("name", "").strip(),
                task=request.POST.get("task", ""),
                description=request.POST.get("description", ""),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("models_registry:list", tenant_slug=tenant_slug)
        except Exception as exc:  # full_clean's ValidationError: show it, do not 500
            messages.error(request, _message(exc))
            return redirect("models_registry:list", tenant_slug=tenant_slug)
        messages.success(request, f"Model {model.name} created.")
        return redirect("models_registry:detail", tenant_slug=tenant_slug, model_id=model.pk)


class ModelDetailView(TenantConsoleView):
    capability = "models.read"
    method_capability = {"post": "models.write"}

    def get(self, request: HttpRequest, tenant_slug: str, model_id: int) -> HttpResponse:
        model = model_get(tenant=self.tenant, model_id=model_id)
        versions = list(version_list(model=model))
        selected = [int(x) for x in request.GET.getlist("compare") if x.isdigit()]
        comparison = (
            version_compare(model=model, numbers=selected or [v.version for v in versions[:5]])
            if versions
            else {"versions": [], "metrics": []}
        )
        aliases = list(alias_list(model=model))
        alias_names = sorted({*WELL_KNOWN_ALIASES, *(a.name for a in aliases)})
        writable = not model.is_shared and self.can("models.write")
        return render(
            request,
            "models_registry/detail.html",
            {
                "model": model,
                "versions": versions,
                "aliases": aliases,
                "alias_names": alias_names,
                "comparison": comparison,
                "can_write": writable,
                "can_promote": not model.is_shared and self.can("models.promote"),
                "can_serve": not model.is_shared and self.can("deploy.manage"),
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str, model_id: int) -> HttpResponse:
        model = model_get_writable(tenant=self.tenant, model_id=model_id)
        op = request.POST.get("op")
        try:
            version = version_get(model=model, number=request.POST.get("version", ""))
            if op == "alias":
                name = request.POST.get("alias", "").strip()
                alias_set(tenant=self.tenant, actor=self.actor, model=model, name=name, version=version)
                messages.success(request, f"{name} now points at version {version.version}.")
            elif op == "serve":
                serving_request(tenant=self.tenant, actor=self.actor, version=version)
                messages.success(request, f"Loading version {version.version} on the local Triton server.")
            elif op == "unserve":
                state = getattr(version, "serving_state", None)
                if state is None:
                    raise ApplicationError(f"Version {version.version} is not served locally.")
                serving_unload_request(tenant=self.tenant, actor=self.actor, serving=state)
                messages.success(request, f"Unloading version {version.version}.")
            else:
                messages.error(request, "Unknown action.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("models_registry:detail", tenant_slug=tenant_slug, model_id=model.pk)


class VersionDetailView(TenantConsoleView):
    capability = "models.read"

    def get(self, request: HttpRequest, tenant_slug: str, model_id: int, version: int) -> HttpResponse:
        model = model_get(tenant=self.tenant, model_id=model_id)
        v = version_get(model=model, number=version)
        try:
            config = render_version_config(v)
        except Exception as exc:  # a legacy row with a spec Triton rejects: show why
            config = f"# cannot render: {exc}"
        return render(
            request,
            "models_registry/version.html",
            {
                "model": model,
                "v": v,
                "config": config,
                "metrics": json.dumps(v.metrics, indent=2),
                "parameters": json.dumps(v.parameters, indent=2),
                "serving": json.dumps(v.serving, indent=2),
                "alias_capability": {name: alias_capability(name) for name in WELL_KNOWN_ALIASES},
            },
        )


_EXAMPLE_INPUTS = '[{"name": "text", "data_type": "BYTES", "dims": [1]}]'
_EXAMPLE_OUTPUTS = '[{"name": "embedding", "data_type": "FP32", "dims": [384]}]'


class VersionRegisterView(TenantConsoleView):
    capability = "models.write"
    method_capability = {"post": "models.write"}

    def _form(self, request: HttpRequest, model: RegisteredModel, values: dict[str, Any], status: int = 200):
        return render(
            request,
            "models_registry/register.html",
            {
                "model": model,
                "values": values,
                "backends": ModelVersion.Backend.choices,
            },
            status=status,
        )

    def get(self, request: HttpRequest, tenant_slug: str, model_id: int) -> HttpResponse:
        model = model_get_writable(tenant=self.tenant, model_id=model_id)
        return self._form(
            request,
            model,
            {
                "inputs": _EXAMPLE_INPUTS,
                "outputs": _EXAMPLE_OUTPUTS,
                "max_batch_size": 8,
                "backend": "python",
                "parameters": "{}",
                "metrics": "{}",
                "serving": '{"dynamic_batching": true}',
            },
        )

    def post(self, request: HttpRequest, tenant_slug: str, model_id: int) -> HttpResponse:
        model = model_get_writable(tenant=self.tenant, model_id=model_id)
        values = request.POST.dict()
        try:
            parsed = {
                key: _json_field(values.get(key, ""), key, default)
                for key, default in (
                    ("inputs", []),
                    ("outputs", []),
                    ("parameters", {}),
                    ("metrics", {}),
                    ("serving", {}),
                )
            }
            try:
                max_batch = int(values.get("max_batch_size") or 0)
            except ValueError:
                raise ApplicationError("max_batch_size must be a whole number.") from None
            version = version_register(
                tenant=self.tenant,
                actor=self.actor,
                model=model,
                backend=values.get("backend", ""),
                artifact_file=request.FILES.get("artifact"),
                artifact_uri=values.get("artifact_uri", "").strip(),
                artifact_name=values.get("artifact_name", "").strip(),
                max_batch_size=max_batch,
                source_run=values.get("source_run", ""),
                dataset_hash=values.get("dataset_hash", ""),
                **parsed,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self._form(request, model, values, status=400)
        except Exception as exc:  # full_clean's ValidationError (e.g. unknown backend)
            messages.error(request, _message(exc))
            return self._form(request, model, values, status=400)
        messages.success(
            request,
            f"Registered {model.name} version {version.version} (sha256 {version.artifact_sha256[:12] or 'n/a'}).",
        )
        return redirect("models_registry:detail", tenant_slug=tenant_slug, model_id=model.pk)


class ServingView(TenantConsoleView):
    capability = "models.read"

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(
            request,
            "models_registry/serving.html",
            {
                "server": serving_server_status(tenant=self.tenant),
                "rows": serving_list(tenant=self.tenant),
            },
        )


def _json_field(raw: str, name: str, default: Any) -> Any:
    if not raw.strip():
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApplicationError(f"{name} must be valid JSON.") from None
    if not isinstance(value, type(default)):
        raise ApplicationError(f"{name} must be a JSON {'list' if isinstance(default, list) else 'object'}.")
    return value


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return (
            "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            if hasattr(exc, "error_dict")
            else "; ".join(exc.messages)
        )
    raise exc
