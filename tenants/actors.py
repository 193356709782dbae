"""Who is acting: a user, a user through an API token, or the system (tasks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenants.models import ApiToken, Membership


@dataclass(frozen=True)
class Actor:
    type: str  # "user" | "token" | "system" | "anonymous"
    user: Any = None
    token: ApiToken | None = None
    membership: Membership | None = None
    label: str = ""
    # For system actors: the user who triggered the work (kept in audit `changes`).
    triggered_by_user_id: int | None = None

    @classmethod
    def for_user(cls, user: Any, membership: Membership | None = None) -> Actor:
        return cls(type="user", user=user, membership=membership, label=_user_label(user))

    @classmethod
    def for_token(cls, token: ApiToken) -> Actor:
        user = token.membership.user
        return cls(
            type="token",
            user=user,
            token=token,
            membership=token.membership,
            label=f"{_user_label(user)} via token {token.prefix}",
        )

    @classmethod
    def system(cls, *, label: str = "system", triggered_by_user_id: int | None = None) -> Actor:
        return cls(type="system", label=label, triggered_by_user_id=triggered_by_user_id)

    @classmethod
    def anonymous(cls, label: str = "anonymous") -> Actor:
        return cls(type="anonymous", label=label)

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None) or self.triggered_by_user_id


def _user_label(user: Any) -> str:
    if user is None:
        return "unknown"
    return getattr(user, "email", "") or getattr(user, "username", "") or f"user {user.pk}"
