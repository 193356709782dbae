"""Roles, capabilities and API-token scopes: the single RBAC decision point.

`membership_has_capability` is the only function that decides whether a member (and the token
they act through, if any) may do something. Views and services ask it; nothing else compares
roles. docs/rbac.md renders CAPABILITIES as a table (tests keep the two in sync).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from django.db import models


class RoleHolder(Protocol):
    """What the decision needs of a membership: its role. A Protocol, so this module (imported
    by tenants.models for Role and Scope) never imports the models back."""

    role: str


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


ROLE_RANK: dict[str, int] = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Scope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    QA = "qa", "Ask questions"
    RECOMMEND = "recommend", "Get recommendations"
    DEPLOY = "deploy", "Deploy"
    ADMIN = "admin", "Administer"


# The lowest role that may hold each scope: a token can never exceed its member's role.
SCOPE_MIN_ROLE: dict[str, str] = {
    Scope.READ: Role.VIEWER,
    Scope.QA: Role.VIEWER,
    Scope.RECOMMEND: Role.VIEWER,
    Scope.WRITE: Role.EDITOR,
    Scope.DEPLOY: Role.ADMIN,
    Scope.ADMIN: Role.ADMIN,
}

# A scope also grants the scopes it implies (writing needs reading; admin is everything).
SCOPE_IMPLIES: dict[str, set[str]] = {
    Scope.READ: {Scope.READ},
    Scope.QA: {Scope.QA},
    Scope.RECOMMEND: {Scope.RECOMMEND},
    Scope.WRITE: {Scope.WRITE, Scope.READ},
    Scope.DEPLOY: {Scope.DEPLOY, Scope.READ},
    Scope.ADMIN: set(SCOPE_MIN_ROLE),
}

# capability -> (lowest role allowed, token scope required)
CAPABILITIES: dict[str, tuple[str, str]] = {
    # tenant, members, tokens, audit
    "tenant.view": (Role.VIEWER, Scope.READ),
    "tenant.settings": (Role.ADMIN, Scope.ADMIN),
    "members.view": (Role.VIEWER, Scope.READ),
    "members.manage": (Role.ADMIN, Scope.ADMIN),
    "tokens.create": (Role.VIEWER, Scope.ADMIN),
    "tokens.manage": (Role.ADMIN, Scope.ADMIN),
    "audit.view": (Role.ADMIN, Scope.ADMIN),
    "sso.trust": (Role.OWNER, Scope.ADMIN),
    # usage, cost and quotas
    "usage.view": (Role.VIEWER, Scope.READ),
    "usage.quotas": (Role.ADMIN, Scope.ADMIN),
    # documents and Q&A
    "documents.read": (Role.VIEWER, Scope.READ),
    "documents.upload": (Role.EDITOR, Scope.WRITE),
    "documents.delete": (Role.EDITOR, Scope.WRITE),
    "qa.ask": (Role.VIEWER, Scope.QA),
    "qa.read": (Role.VIEWER, Scope.READ),
    # recommendations
    "catalog.read": (Role.VIEWER, Scope.READ),
    "catalog.write": (Role.EDITOR, Scope.WRITE),
    "events.write": (Role.EDITOR, Scope.WRITE),
    "recs.query": (Role.VIEWER, Scope.RECOMMEND),
    "recs.train": (Role.EDITOR, Scope.WRITE),
    "experiments.manage": (Role.ADMIN, Scope.WRITE),
    # model registry
    "models.read": (Role.VIEWER, Scope.READ),
    "models.write": (Role.EDITOR, Scope.WRITE),
    "models.promote": (Role.ADMIN, Scope.DEPLOY),
    # deployments
    "deploy.read": (Role.VIEWER, Scope.READ),
    "deploy.plan": (Role.EDITOR, Scope.WRITE),
    "deploy.manage": (Role.ADMIN, Scope.DEPLOY),
    "deploy.rollout": (Role.ADMIN, Scope.DEPLOY),
}


class UnknownCapability(KeyError):
    pass


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[minimum]


def scopes_allowed_for_role(role: str) -> list[str]:
    return [s for s, min_role in SCOPE_MIN_ROLE.items() if role_at_least(role, min_role)]


def membership_has_capability(
    *, membership: RoleHolder | None, capability: str, token_scopes: Iterable[str] | None = None
) -> bool:
    """The one RBAC decision.

    A member has a capability when their role is at least the capability's minimum role; when
    the request came through an API token, the token must also carry the capability's scope
    and that scope must still be within the member's *current* role (a demoted member's old
    tokens shrink with them).
    """
    if capability not in CAPABILITIES:
        raise UnknownCapability(capability)
    if membership is None:
        return False
    min_role, scope = CAPABILITIES[capability]
    if not role_at_least(membership.role, min_role):
        return False
    if token_scopes is not None:
        granting = [s for s in token_scopes if scope in SCOPE_IMPLIES.get(s, set())]
        # The granting scope itself must still be within the member's current role.
        if not any(role_at_least(membership.role, SCOPE_MIN_ROLE[s]) for s in granting):
            return False
    return True
