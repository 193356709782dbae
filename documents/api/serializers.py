"""Serializers of the documents API (output shapes and the upload input)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from documents.models import Chunk, Document


class DocumentProgressSerializer(serializers.Serializer):
    stage = serializers.CharField()
    percent = serializers.IntegerField()
    pages_done = serializers.IntegerField()
    pages_total = serializers.IntegerField(allow_null=True)
    chunks_done = serializers.IntegerField()
    chunks_total = serializers.IntegerField()


class DocumentSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    is_terminal = serializers.BooleanField(read_only=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "filename",
            "kind",
            "content_type",
            "size_bytes",
            "sha256",
            "status",
            "status_detail",
            "error",
            "error_code",
            "progress",
            "is_terminal",
            "generation",
            "embedding_model",
            "attempts",
            "created_at",
            "updated_at",
            "ingested_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DocumentProgressSerializer)
    def get_progress(self, obj: Document) -> dict[str, Any]:
        data = {
            "stage": obj.status,
            "percent": obj.progress_percent,
            "pages_done": obj.pages_done,
            "pages_total": obj.pages_total,
            "chunks_done": obj.chunks_done,
            "chunks_total": obj.chunks_total,
        }
        return DocumentProgressSerializer(data).data


class DocumentUploadInputSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        help_text="One or more files (PDF, DOCX, TXT, MD).",
    )
    file = serializers.FileField(required=False, allow_empty_file=True, help_text="A single file.")
    title = serializers.CharField(required=False, max_length=300, help_text="Only with a single file.")
    force = serializers.BooleanField(
        required=False, default=False, help_text="Upload even if the same bytes are already in this tenant."
    )


class DocumentRejectionSerializer(serializers.Serializer):
    filename = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()


class DocumentUploadOutputSerializer(serializers.Serializer):
    documents = DocumentSerializer(many=True)
    rejected = DocumentRejectionSerializer(many=True)


class ChunkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["id", "document", "generation", "ordinal", "page", "pages", "heading_path", "token_count", "text"]
        read_only_fields = fields
