"""Serializers of the Q&A API (ask, records, feedback, conversations)."""

from __future__ import annotations

from rest_framework import serializers

from qa.models import Conversation, QaFeedback, QaRecord


class QaAskInputSerializer(serializers.Serializer):
    # Length and emptiness are checked by the service, so the message is the same everywhere.
    question = serializers.CharField(allow_blank=True, trim_whitespace=False)
    document_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True, max_length=200
    )
    top_k = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=20)
    conversation_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class CitationSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    chunk_id = serializers.IntegerField()
    score = serializers.FloatField()
    quote = serializers.CharField()
    location = serializers.CharField(
        required=False, default="", help_text="Where in the document: heading path, 'Table 1, row 4', 'footnote 2'"
    )


class QaAnswerSerializer(serializers.Serializer):
    """The response of POST /api/v1/qa/ (and the `final` event of the streamed form)."""

    # Renders a finished qa.services.trace.AnswerTrace: the one renderer of both forms.

    id = serializers.IntegerField(source="record.pk")
    answer = serializers.CharField(source="shown_answer")
    citations = CitationSerializer(many=True, source="shown_citations")
    conversation_id = serializers.IntegerField(source="record.conversation_id")
    found = serializers.BooleanField()
    flagged = serializers.BooleanField()
    notice = serializers.CharField(allow_blank=True)
    standalone_query = serializers.CharField(source="rewritten_query", allow_blank=True)
    guardrails = serializers.DictField(source="guardrails_json")
    usage = serializers.DictField(source="usage_json")
    latency_ms = serializers.DictField(source="latency_json")
    model = serializers.CharField()
    prompt_version = serializers.CharField(allow_blank=True)


class QaRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = QaRecord
        fields = [
            "id",
            "conversation",
            "question",
            "standalone_query",
            "answer",
            "found",
            "flagged",
            "citations",
            "retrieved",
            "guardrails",
            "usage",
            "latency_ms",
            "model",
            "prompt_version",
            "created_at",
        ]
        read_only_fields = fields


class QaFeedbackInputSerializer(serializers.Serializer):
    # "1"/"-1" also match the numbers 1/-1 (DRF compares choices as strings).
    rating = serializers.ChoiceField(choices=["up", "down", "1", "-1"])
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")

    def validate_rating(self, value: object) -> int:
        return 1 if value in ("up", "1") else -1


class QaFeedbackSerializer(serializers.ModelSerializer):
    rating = serializers.SerializerMethodField()

    class Meta:
        model = QaFeedback
        fields = ["id", "record", "rating", "comment", "created_at"]
        read_only_fields = fields

    def get_rating(self, obj: QaFeedback) -> str:
        return "up" if obj.rating > 0 else "down"


class ConversationSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    turn_count = serializers.IntegerField(read_only=True, required=False)
    is_mine = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "shared",
            "document_ids",
            "created_by",
            "is_mine",
            "turn_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_created_by(self, obj: Conversation) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None

    def get_is_mine(self, obj: Conversation) -> bool:
        user = self.context.get("user")
        return obj.created_by_id is not None and obj.created_by_id == getattr(user, "pk", None)


class ConversationDetailSerializer(ConversationSerializer):
    turns = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "turns"]
        read_only_fields = fields

    def get_turns(self, obj: Conversation) -> list[dict]:
        return QaRecordSerializer(self.context.get("turns", []), many=True).data  # type: ignore[return-value]


class ConversationShareInputSerializer(serializers.Serializer):
    shared = serializers.BooleanField(default=True)
