from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from documents import backends
        from documents.console.views import documents_dashboard_cards
        from portal import health
        from tenants.console.nav import NavItem, register_nav
        from tenants.console.views import DASHBOARD_CARDS

        health.register_check("milvus", backends.check_milvus)
        if settings.TRITON_URL:
            health.register_check("triton", backends.check_triton)
        register_nav(NavItem("Documents", "documents:list", "documents.read", 10))
        if documents_dashboard_cards not in DASHBOARD_CARDS:
            DASHBOARD_CARDS.append(documents_dashboard_cards)

        from documents.qa_console import register_qa_console

        register_qa_console()
