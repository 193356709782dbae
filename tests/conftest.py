"""Shared fixtures: two tenants and a cast of users, modelled on healthchecks' alice/bob/charlie.

tenant_a: owner_a (owner), admin_a (admin), editor_a (editor), viewer_a (viewer)
tenant_b: owner_b (owner)
outsider: a user with no membership anywhere
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tenants.actors import Actor
from tenants.models import Membership, Tenant
from tenants.services import token_create
from tests.factories.tenants import MembershipFactory, TenantFactory, UserFactory

PASSWORD = "pw-correct-horse"


@pytest.fixture
def tenant_a(db) -> Tenant:
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return TenantFactory(slug="globex", name="Globex")


def _member(tenant: Tenant, role: str, username: str) -> Membership:
    return MembershipFactory(tenant=tenant, role=role, user=UserFactory(username=username))


@pytest.fixture
def owner_a(tenant_a) -> Membership:
    return _member(tenant_a, "owner", "owner@acme.test")


@pytest.fixture
def admin_a(tenant_a, owner_a) -> Membership:
    return _member(tenant_a, "admin", "admin@acme.test")


@pytest.fixture
def editor_a(tenant_a, owner_a) -> Membership:
    return _member(tenant_a, "editor", "editor@acme.test")


@pytest.fixture
def viewer_a(tenant_a, owner_a) -> Membership:
    return _member(tenant_a, "viewer", "viewer@acme.test")


@pytest.fixture
def owner_b(tenant_b) -> Membership:
    return _member(tenant_b, "owner", "owner@globex.test")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider@nowhere.test")


@pytest.fixture
def make_token() -> Callable[..., str]:
    """Issue a real token for a membership; returns the plaintext."""

    def make(membership: Membership, scopes: list[str] | None = None, **kwargs) -> str:
        issued = token_create(
            tenant=membership.tenant,
            actor=Actor.system(label="test"),
            membership=membership,
            name=kwargs.pop("name", "test"),
            scopes=scopes or ["read"],
            **kwargs,
        )
        return issued.plaintext

    return make


@pytest.fixture
def token_a_readonly(admin_a, make_token) -> str:
    return make_token(admin_a, ["read"])


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """api(token) -> client with a bearer token; api(user=..., tenant=...) -> session client."""

    def make(token: str | None = None, *, user=None, tenant: str | None = None) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        if user is not None:
            client.force_login(user)
        if tenant:
            client.defaults["HTTP_X_TENANT"] = tenant
        return client

    return make
