"""The old name of the console base, kept only for documents/qa_console.py until Q&A moves to
its own app (which then imports `tenants.console.base.TenantConsoleView`); delete this file then."""

from __future__ import annotations

from tenants.console.base import TenantConsoleView

TenantConsoleMixin = TenantConsoleView

__all__ = ["TenantConsoleMixin"]
