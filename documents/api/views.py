"""Thin API views for documents: upload (202), list/get/delete, re-ingest, chunks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from documents.api.serializers import (
    ChunkSerializer,
    DocumentSerializer,
    DocumentUploadInputSerializer,
    DocumentUploadOutputSerializer,
)
from documents.models import Document
from documents.selectors import chunk_list, document_list
from documents.services import document_delete, document_reingest, document_upload
from portal.api import retry_after_headers
from portal.context import current_request
from portal.exceptions import ApplicationError, PermissionDenied
from tenants.api.base import TenantScopedViewSet

_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's documents. Uploading answers 202: ingestion runs in the background and the
    document's `status`/`progress` show where it is (queued ... ready, or failed with `error`)."""

    required_capability = {
        "list": "documents.read",
        "retrieve": "documents.read",
        "chunks": "documents.read",
        "create": "documents.upload",
        "reingest": "documents.upload",
        "destroy": "documents.delete",
    }
    serializer_class = DocumentSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    filterset_fields = ["status", "kind"]

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return document_list(tenant=self.tenant)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadInputSerializer},
        parameters=[OpenApiParameter("force", bool, description="Upload even if the same file exists.")],
        responses={202: DocumentUploadOutputSerializer},
    )
    def create(self, request: Request) -> Response:
        """Upload one or many files (field `files`, or `file`); each becomes a queued document.

        A rejected file (400 bad type/empty, 409 duplicate, 413 too large, 503 indexing backlog
        full) is listed in `rejected`; when every file is rejected the response carries the first
        file's status (and its Retry-After).
        """
        files = [*request.FILES.getlist("files"), *request.FILES.getlist("file")]
        if not files:
            raise exceptions.ValidationError({"files": ["Attach one or more files in the multipart field 'files'."]})
        form = request.data if isinstance(request.data, Mapping) else {}  # multipart: a QueryDict
        force = _flag(request.query_params.get("force", "")) or _flag(form.get("force", ""))
        title = form.get("title") if len(files) == 1 else None
        accepted: list[Document] = []
        rejected: list[tuple[ApplicationError, dict[str, Any]]] = []
        for upload in files:
            try:
                accepted.append(
                    document_upload(
                        tenant=self.tenant,
                        actor=self.actor,
                        file=upload,
                        filename=upload.name,
                        title=title,
                        force=force,
                    )
                )
            except PermissionDenied:
                raise
            except ApplicationError as exc:
                rejected.append(
                    (
                        exc,
                        {
                            "filename": exc.extra.get("filename", upload.name),
                            "status": exc.status_code,
                            "code": exc.code,
                            "detail": exc.message,
                        },
                    )
                )
        if not accepted:
            if len(rejected) == 1:
                raise rejected[0][0]
            first = rejected[0][0]
            return Response(
                {
                    "detail": first.message,
                    "code": first.code,
                    "rejected": [r for _, r in rejected],
                    "request_id": current_request.get().request_id,
                },
                status=first.status_code,
                headers=retry_after_headers(first),
            )
        body = {"documents": DocumentSerializer(accepted, many=True).data, "rejected": [r for _, r in rejected]}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Delete the document, its chunks, its vectors and its stored file."""
        document_delete(tenant=self.tenant, actor=self.actor, document=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DocumentSerializer})
    @action(detail=True, methods=["post"])
    def reingest(self, request: Request, pk: str | None = None) -> Response:
        """Ingest again (new generation); the current chunks stay searchable until it is done."""
        document = document_reingest(tenant=self.tenant, actor=self.actor, document=self.get_object())
        return Response(DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ChunkSerializer(many=True)})
    @action(detail=True, methods=["get"], filterset_fields=[])
    def chunks(self, request: Request, pk: str | None = None) -> Response:
        """The active generation's chunks in reading order (paginated)."""
        document = self.get_object()
        page = self.paginate_queryset(chunk_list(tenant=self.tenant, document=document))
        return self.get_paginated_response(ChunkSerializer(page, many=True).data)
