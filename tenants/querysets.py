"""Fail-closed tenant scoping for every tenant-owned model.

A `TenantQuerySet` refuses to run (raises `TenantScopeError`) unless it was narrowed with
`.for_tenant(tenant)`, explicitly widened with the loudly named `.all_tenants()` (admin,
migrations, platform jobs), reached through a related manager of an already-loaded object, or its
WHERE clause pins an exact tenant (how Django's own unique-validation queries look). A forgotten
filter therefore fails in the first test that touches it instead of leaking another tenant's rows.
Compare PostHog's posthog/models/scoping and netbox's RestrictedQuerySet.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models
from django.db.models.lookups import Exact


class TenantScopeError(RuntimeError):
    """A tenant-owned query was about to run without a tenant."""


def _where_pins_tenant(where: Any, base_alias: str | None) -> bool:
    """True if the top-level AND of the WHERE clause contains `<base table>.tenant = <value>`.

    The column must belong to the queried table itself (`base_alias`): `tenant = x` on a joined
    row (e.g. `filter(user__memberships__tenant=x)`) says nothing about the rows returned.
    """
    if getattr(where, "connector", "AND") != "AND" or getattr(where, "negated", False):
        return False
    for child in getattr(where, "children", []):
        if isinstance(child, Exact):
            target = getattr(child.lhs, "target", None)
            if (
                target is not None
                and target.name == "tenant"
                and getattr(child.lhs, "alias", None) == base_alias
                and child.rhs is not None
            ):
                return True
        elif hasattr(child, "children") and _where_pins_tenant(child, base_alias):
            return True
    return False


class TenantQuerySet(models.QuerySet):
    """QuerySet for models with a non-null `tenant` FK. See module docstring for the rule."""

    _scope: str | None = None  # "tenant" | "all_tenants" | "user"
    _scoped_tenant_id: int | None = None

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]  # private Django API, not in django-stubs
        clone._scope = self._scope
        clone._scoped_tenant_id = self._scoped_tenant_id
        return clone

    # -- scoping entry points -------------------------------------------------------------------
    # `tenant` is a tenants.models.Tenant; typed as a Model so this module, which tenants.models
    # imports, does not import it back.
    def for_tenant(self, tenant: models.Model | None) -> Self:
        if tenant is None or getattr(tenant, "pk", None) is None:
            raise TenantScopeError(f"{self.model.__name__}: a tenant is required")
        qs = self.filter(tenant=tenant)
        qs._scope = "tenant"
        qs._scoped_tenant_id = tenant.pk
        return qs

    def all_tenants(self) -> Self:
        """Cross-tenant access for platform code only (admin, migrations, sweeps). Use sparingly."""
        qs = self._chain()  # type: ignore[attr-defined]  # private Django API, not in django-stubs
        qs._scope = "all_tenants"
        return qs

    # -- the guard --------------------------------------------------------------------------------
    def _assert_scoped(self) -> None:
        if self._scope is not None:
            return
        # a related manager of a loaded object (`_hints`: private Django API, not in django-stubs)
        if self._hints.get("instance") is not None:  # type: ignore[attr-defined]
            return
        if _where_pins_tenant(self.query.where, self.query.base_table):
            return
        raise TenantScopeError(
            f"{self.model.__name__} query without a tenant: use .for_tenant(tenant) "
            "(or .all_tenants() in platform code)"
        )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._assert_scoped()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None):  # type: ignore[override]
        self._assert_scoped()
        return super().iterator(chunk_size=chunk_size)

    def count(self) -> int:
        self._assert_scoped()
        return super().count()

    def exists(self) -> bool:
        self._assert_scoped()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._assert_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._assert_scoped()
        return super().update(**kwargs)

    def _combinator_query(self, combinator: str, *other_qs: Any, **kwargs: Any) -> Self:
        # union()/intersection()/difference() copy this queryset's scope onto the result, so an
        # unscoped operand would otherwise ride along unchecked.
        for qs in (self, *other_qs):
            if isinstance(qs, TenantQuerySet):
                qs._assert_scoped()
        return super()._combinator_query(combinator, *other_qs, **kwargs)  # type: ignore[misc]  # private Django API

    def delete(self) -> tuple[int, dict[str, int]]:
        self._assert_scoped()
        return super().delete()


class TenantOwnedModel(models.Model):
    """Abstract base: a non-null tenant FK and the fail-closed queryset.

    Subclasses must include `tenant` in their unique constraints.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
