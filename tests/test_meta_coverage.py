"""Meta-tests: every API route and every tenant-owned model is covered by the cross-tenant mixin,
every API view inherits the tenant-scoped base, and every console page under /t/<tenant_slug>/
inherits the console base. Adding an endpoint without tests fails here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

import tests
from tenants.api.base import TenantScopedMixin
from tenants.console.base import TenantConsoleView
from tenants.querysets import TenantQuerySet
from tests.support.api_mixins import COVERED_MODELS, COVERED_ROUTES

# Routes deliberately outside the tenant base, with the reason.
EXEMPT_ROUTES: dict[str, str] = {}
# Tenant-owned models exercised only through another model's endpoint, with the reason.
EXEMPT_MODELS: dict[str, str] = {
    "models_registry.ArtifactApproval": (
        "platform operators decide in the Django admin; tenants read its state only through the version's "
        "`approval` field (covered with ModelVersion), and no tenant API writes it"
    ),
}


def _import_all_test_modules() -> None:
    root = Path(tests.__file__).parent
    for info in pkgutil.walk_packages([str(root)], prefix="tests."):
        if info.name.rsplit(".", 1)[-1].startswith("test_"):
            importlib.import_module(info.name)


def _api_routes() -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(patterns, ns: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{ns}{p.namespace}:" if p.namespace else ns)
            elif isinstance(p, URLPattern) and p.name and ns.startswith("api:"):
                found[f"{ns}{p.name}"] = p.callback

    walk(get_resolver().url_patterns, "")
    return found


def _console_routes() -> dict[str, object]:
    """Every URL pattern whose full route starts with the tenant segment, by its full route."""
    found: dict[str, object] = {}

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern).lstrip("^")
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and (
                route.startswith("t/<slug:tenant_slug>/") or route.startswith("t/(?P<tenant_slug>")
            ):
                found[route] = p.callback

    walk(get_resolver().url_patterns, "")
    return found


def _tenant_owned_models() -> list:
    out = []
    for model in apps.get_models():
        field = next((f for f in model._meta.get_fields() if f.name == "tenant"), None)
        if field is not None and getattr(field, "related_model", None) is apps.get_model("tenants", "Tenant"):
            out.append(model)
    return out


def test_every_api_route_uses_the_tenant_base():
    for name, callback in _api_routes().items():
        if name in EXEMPT_ROUTES:
            continue
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        assert view is not None and issubclass(view, TenantScopedMixin), f"{name} bypasses TenantScopedMixin"


def test_every_console_page_uses_the_console_base():
    routes = _console_routes()
    # The walk must see the pages of every app, or it proves nothing.
    for sample in ("t/<slug:tenant_slug>/members/", "t/<slug:tenant_slug>/documents/", "t/<slug:tenant_slug>/qa/"):
        assert sample in routes, sorted(routes)
    bypassing = [
        route
        for route, callback in routes.items()
        if not issubclass(getattr(callback, "view_class", type(None)), TenantConsoleView)
    ]
    assert not bypassing, f"console pages not built on TenantConsoleView: {bypassing}"


def test_no_console_page_lives_outside_the_tenant_segment():
    """A page that takes a tenant_slug but is mounted elsewhere would dodge the check above."""
    stray = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern).lstrip("^")
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif "tenant_slug" in route and not route.startswith(("t/<slug:tenant_slug>/", "t/(?P<tenant_slug>")):
                stray.append(route)

    walk(get_resolver().url_patterns, "")
    assert not stray, stray


def test_every_api_route_is_covered_by_cross_tenant_tests():
    _import_all_test_modules()
    missing = sorted(set(_api_routes()) - COVERED_ROUTES - set(EXEMPT_ROUTES))
    assert not missing, f"API routes without CrossTenantAPITests coverage: {missing}"


def test_every_tenant_owned_model_is_scoped_and_covered():
    _import_all_test_modules()
    models = _tenant_owned_models()
    assert models, "no tenant-owned models found"
    for model in models:
        assert isinstance(model._default_manager.get_queryset(), TenantQuerySet), (
            f"{model._meta.label}.objects must be a TenantQuerySet manager"
        )
    uncovered = sorted(m._meta.label for m in models if m._meta.label not in COVERED_MODELS | set(EXEMPT_MODELS))
    assert not uncovered, f"tenant-owned models without CrossTenantAPITests coverage: {uncovered}"
