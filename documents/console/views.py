"""Console pages for documents (/t/<slug>/documents/...): upload, live status, chunks."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from documents.models import Document
from documents.selectors import chunk_list, document_counts, document_get, document_list
from documents.services import document_delete, document_reingest, document_upload, tenant_max_upload_bytes
from portal.exceptions import ApplicationError, NotFound
from tenants.console.base import TenantConsoleView
from tenants.models import Tenant

LIST_LIMIT = 200
CHUNKS_PER_PAGE = 50


def documents_dashboard_cards(tenant: Tenant) -> list[dict[str, Any]]:
    """Dashboard card: how many documents, and how many are still being ingested."""
    counts = document_counts(tenant=tenant)
    total = sum(counts.values())
    busy = total - counts.get("ready", 0) - counts.get("failed", 0)
    label = "Documents" + (f" ({busy} ingesting)" if busy else "")
    return [{"label": label, "value": total, "url": reverse("documents:list", args=[tenant.slug])}]


class _DocumentsBase(TenantConsoleView):
    capability = "documents.read"

    def get_document(self, document_id: int) -> Document:
        try:
            return document_get(tenant=self.tenant, document_id=document_id)
        except NotFound:
            raise Http404("Document not found.") from None

    def rows_context(self) -> dict[str, Any]:
        documents = list(document_list(tenant=self.tenant)[:LIST_LIMIT])
        return {
            "documents": documents,
            "polling": any(not d.is_terminal for d in documents),
            "can_upload": self.can("documents.upload"),
            "can_delete": self.can("documents.delete"),
        }


class DocumentListView(_DocumentsBase):
    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        ctx = self.rows_context()
        ctx["max_upload_bytes"] = tenant_max_upload_bytes(self.tenant)
        return render(request, "documents/list.html", ctx)


class DocumentRowsView(_DocumentsBase):
    """The table alone, for htmx polling (it stops polling once every document is terminal)."""

    def get(self, request: HttpRequest, tenant_slug: str) -> HttpResponse:
        return render(request, "documents/_rows.html", self.rows_context())


class DocumentUploadView(_DocumentsBase):
    """One file per request (the console's uploader sends each file separately for progress)."""

    capability = "documents.upload"
    method_capability = {"post": "documents.upload"}

    def post(self, request: HttpRequest, tenant_slug: str) -> JsonResponse:
        upload = request.FILES.get("file")
        if upload is None:
            return JsonResponse({"detail": "No file was sent.", "code": "invalid"}, status=400)
        try:
            document = document_upload(
                tenant=self.tenant,
                actor=self.actor,
                file=upload,
                filename=upload.name,
                force=request.POST.get("force") == "true",
            )
        except ApplicationError as exc:
            return JsonResponse({"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status_code)
        return JsonResponse({"id": document.pk, "title": document.title, "status": document.status}, status=202)


class DocumentActionView(_DocumentsBase):
    # The base only checks read access; the services authorise the operation itself (upload
    # for re-ingest, delete for delete) and audit a refusal.
    capability = "documents.read"
    method_capability = {"post": "documents.read"}

    def post(self, request: HttpRequest, tenant_slug: str, document_id: int, op: str) -> HttpResponse:
        if op not in ("delete", "reingest"):
            raise Http404("Unknown operation.")
        document = self.get_document(document_id)
        try:
            if op == "delete":
                document_delete(tenant=self.tenant, actor=self.actor, document=document)
                messages.success(request, f"Deleted '{document.title}'.")
            elif op == "reingest":
                document_reingest(tenant=self.tenant, actor=self.actor, document=document)
                messages.success(request, f"Re-ingesting '{document.title}'.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("documents:list", tenant_slug=tenant_slug)


class DocumentDetailView(_DocumentsBase):
    def get(self, request: HttpRequest, tenant_slug: str, document_id: int) -> HttpResponse:
        document = self.get_document(document_id)
        page = Paginator(chunk_list(tenant=self.tenant, document=document), CHUNKS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "documents/detail.html",
            {
                "document": document,
                "chunks": page,
                "can_upload": self.can("documents.upload"),
                "can_delete": self.can("documents.delete"),
            },
        )
