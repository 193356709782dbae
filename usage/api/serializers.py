"""Usage API serializers: the summary's shape, series points, quotas."""

from __future__ import annotations

from rest_framework import serializers


class PeriodSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class QaUsageSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    inference_s = serializers.FloatField()
    cost_usd = serializers.FloatField()
    cost_per_request_usd = serializers.FloatField()


class RecsUsageSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    cost_usd = serializers.FloatField()
    cost_per_request_usd = serializers.FloatField()


class EmbeddingUsageSerializer(serializers.Serializer):
    chunks = serializers.IntegerField()
    inference_s = serializers.FloatField()
    cost_usd = serializers.FloatField()


class StorageUsageSerializer(serializers.Serializer):
    documents = serializers.IntegerField()
    bytes = serializers.IntegerField()
    vectors = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class TrainingUsageSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    seconds = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class RolloutUsageSerializer(serializers.Serializer):
    rollouts = serializers.IntegerField()
    cost_usd = serializers.FloatField()


class FeaturesSerializer(serializers.Serializer):
    qa = QaUsageSerializer()
    recommendations = RecsUsageSerializer()
    embedding = EmbeddingUsageSerializer()
    storage = StorageUsageSerializer()
    training = TrainingUsageSerializer()
    rollouts = RolloutUsageSerializer()


class PricesSerializer(serializers.Serializer):
    gpu = serializers.CharField()
    gpu_second_usd = serializers.FloatField()
    gpu_price_source = serializers.CharField()


class UsageSummarySerializer(serializers.Serializer):
    period = PeriodSerializer()
    features = FeaturesSerializer()
    total_cost_usd = serializers.FloatField()
    month_to_date_usd = serializers.FloatField()
    projected_month_usd = serializers.FloatField()
    prices = PricesSerializer()


class UsagePointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    feature = serializers.CharField()
    metric = serializers.CharField()
    value = serializers.IntegerField()


class UsageSeriesSerializer(serializers.Serializer):
    period = PeriodSerializer()
    granularity = serializers.CharField()
    points = UsagePointSerializer(many=True)


class QuotaValuesSerializer(serializers.Serializer):
    qa_requests_per_day = serializers.IntegerField(allow_null=True, required=False)
    recs_requests_per_minute = serializers.IntegerField(allow_null=True, required=False)
    embedding_chunks_per_day = serializers.IntegerField(allow_null=True, required=False)
    max_documents = serializers.IntegerField(allow_null=True, required=False)
    max_storage_bytes = serializers.IntegerField(allow_null=True, required=False)
    monthly_budget_usd = serializers.FloatField(allow_null=True, required=False)


class QuotaSerializer(serializers.Serializer):
    limits = QuotaValuesSerializer(help_text="The limits in force (null = unlimited).")
    tenant_set = serializers.DictField(
        child=serializers.BooleanField(), help_text="Set by the tenant, else the platform default."
    )
    bounds = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()))
    budget_exhausted = serializers.BooleanField()
