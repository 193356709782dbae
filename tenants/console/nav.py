"""Console navigation: apps register their pages here (in AppConfig.ready)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str  # reversed with tenant_slug
    capability: str
    order: int = 100


NAV: list[NavItem] = [
    NavItem("Dashboard", "console:dashboard", "tenant.view", 0),
    NavItem("Members", "console:members", "members.view", 80),
    NavItem("Single sign-on", "console:sso", "members.manage", 82),
    NavItem("API tokens", "console:tokens", "tokens.create", 85),
    NavItem("Audit log", "console:audit", "audit.view", 90),
]


def register_nav(item: NavItem) -> None:
    if item.url_name not in {n.url_name for n in NAV}:
        NAV.append(item)
        NAV.sort(key=lambda n: (n.order, n.label))
