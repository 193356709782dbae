"""Console pages of the cited Q&A: the chat page, cited-page viewer and conversation exports.

``QaConfig.ready`` adds the nav entry. The chat page talks to the public API
(``POST /api/v1/qa/?stream=true`` with the session and an ``X-Tenant`` header), so the console
has no second code path for answers.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from documents.models import Chunk
from portal.exceptions import NotFound
from qa.api.views import export_response
from qa.selectors import conversation_get, conversation_list
from tenants.console.base import TenantConsoleView

__all__ = ["QaChatView", "QaExportView", "QaSourceView"]


class QaChatView(TenantConsoleView):
    capability = "qa.ask"

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        conversations = conversation_list(tenant=self.tenant, user=request.user)[:50]
        return render(
            request,
            "qa/chat.html",
            {"conversations": conversations, "tenant_slug": self.tenant.slug, "user_id": request.user.pk},
        )


class QaSourceView(TenantConsoleView):
    """JSON: the text of the cited chunk's page (all chunks of that page, same generation)."""

    capability = "qa.read"

    def get(self, request: HttpRequest, tenant_slug: str, chunk_id: int) -> JsonResponse:
        chunk = Chunk.objects.for_tenant(self.tenant).filter(pk=chunk_id).select_related("document").first()
        if chunk is None:
            raise Http404("Source not found.")
        same_page = Chunk.objects.for_tenant(self.tenant).filter(
            document_id=chunk.document_id, generation=chunk.generation
        )
        rows = same_page.filter(page=chunk.page) if chunk.page is not None else same_page.filter(pk=chunk.pk)
        return JsonResponse(
            {
                "document_id": chunk.document_id,
                "document_title": chunk.document.title,
                "page": chunk.page,
                "location": chunk.location,
                "chunk_id": chunk.pk,
                "chunks": [{"id": c.pk, "text": c.text, "location": c.location} for c in rows.order_by("ordinal")],
            }
        )


class QaExportView(TenantConsoleView):
    capability = "qa.read"

    def get(self, request: HttpRequest, tenant_slug: str, pk: int, fmt: str) -> HttpResponse:
        try:
            conv = conversation_get(tenant=self.tenant, user=request.user, conversation_id=pk)
        except NotFound:
            raise Http404("Conversation not found.") from None
        return export_response(tenant=self.tenant, conversation=conv, fmt=fmt)
