"""Serializers of the recommendations API: output shapes and request inputs.

Bulk inputs (catalog, events) are not validated by DRF field by field: services validate rows
in plain Python so a 10,000-row batch costs milliseconds and every bad row gets a row number.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from recommendations import constants as C
from recommendations.models import CatalogItem, Event, Experiment, Exposure, TrainingRun


class CatalogItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogItem
        fields = [
            "id",
            "external_id",
            "title",
            "description",
            "category",
            "tags",
            "attributes",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1-based position of the row in the request")
    field = serializers.CharField(required=False)
    message = serializers.CharField()


class CatalogImportResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)  # type: ignore[assignment]  # DRF stubs: "errors" is a property


class EventSerializer(serializers.ModelSerializer):
    item_id = serializers.CharField(source="item.external_id", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "user_id", "item_id", "type", "value", "timestamp", "context", "created_at"]
        read_only_fields = fields


class EventIngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)  # type: ignore[assignment]  # DRF stubs: "errors" is a property


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "version",
            "status",
            "stage",
            "progress",
            "error",
            "attempts",
            "is_active",
            "params",
            "metrics",
            "stats",
            "data_hash",
            "artifact_path",
            "model_version",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_model_version(self, run: TrainingRun) -> str | None:
        mv = run.model_version
        return f"{mv.model.name}:{mv.version}" if mv is not None else None


class TrainingStartInputSerializer(serializers.Serializer):
    params = serializers.DictField(
        required=False, default=dict, help_text="Optional: content (bool), use_ease (bool), knn_neighbours, max_history"
    )


class RecommendationContextSerializer(serializers.Serializer):
    item_id = serializers.CharField(required=False, allow_blank=True, max_length=C.MAX_EXTERNAL_ID_CHARS)
    session_item_ids = serializers.ListField(
        child=serializers.CharField(max_length=C.MAX_EXTERNAL_ID_CHARS), required=False, default=list, max_length=50
    )


class RecommendationFiltersSerializer(serializers.Serializer):
    category = serializers.CharField(required=False, allow_blank=True, max_length=C.MAX_CATEGORY_CHARS)
    exclude_item_ids = serializers.ListField(
        child=serializers.CharField(max_length=C.MAX_EXTERNAL_ID_CHARS),
        required=False,
        default=list,
        max_length=1000,
    )


class RecommendationInputSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=C.MAX_USER_ID_CHARS, trim_whitespace=True)
    k = serializers.IntegerField(
        default=10,
        min_value=C.MIN_K,
        max_value=C.MAX_K,
        error_messages={
            "min_value": f"k must be between {C.MIN_K} and {C.MAX_K}.",
            "max_value": f"k must be between {C.MIN_K} and {C.MAX_K}.",
        },
    )
    context = RecommendationContextSerializer(required=False)  # type: ignore[assignment]  # DRF stubs: Field.context
    filters = RecommendationFiltersSerializer(required=False)
    exclude_seen = serializers.BooleanField(default=True)


class RecommendedItemSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    title = serializers.CharField()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())


class RecommendationOutputSerializer(serializers.Serializer):
    items = RecommendedItemSerializer(many=True)
    model_version = serializers.DictField(allow_null=True)
    experiment = serializers.DictField(allow_null=True)
    request_id = serializers.CharField()
    cold_start = serializers.BooleanField()


class ExperimentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Experiment
        fields = [
            "id",
            "key",
            "name",
            "status",
            "variants",
            "attribution_window_s",
            "winner",
            "started_at",
            "stopped_at",
        ]
        read_only_fields = fields


class ExperimentCreateInputSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    variants = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"name", "weight", "run_id"} | {"name", "weight", "strategy": "popularity"}]',
    )
    attribution_window_s = serializers.IntegerField(min_value=60, max_value=30 * 86_400, default=86_400)


class ExperimentStopInputSerializer(serializers.Serializer):
    winner = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ExposureSerializer(serializers.ModelSerializer):
    experiment = serializers.CharField(source="experiment.key", read_only=True)

    class Meta:
        model = Exposure
        fields = ["id", "experiment", "variant", "user_id", "request_id", "item_ids", "created_at"]
        read_only_fields = fields


def bulk_body_schema(key: str) -> dict[str, Any]:
    """The OpenAPI request body of a bulk route: `{key: [rows]}` or a bare list of rows (both
    accepted by `api.views.bulk_rows`). Rows are any JSON value: each is validated on its own
    and reported by row number, so a bad row never fails the batch."""
    rows = {"type": "array", "items": {}, "maxItems": C.MAX_ROWS_PER_REQUEST}
    wrapped = {"type": "object", "properties": {key: rows}, "required": [key]}
    return {"application/json": {"oneOf": [wrapped, rows]}}
