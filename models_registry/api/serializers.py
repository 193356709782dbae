"""Input and output serializers of the registry API. Inputs never take ids of other objects
through PrimaryKeyRelatedField: views resolve them through the tenant-scoped selectors."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from models_registry.models import ArtifactApproval, LocalServing, ModelAlias, ModelVersion, RegisteredModel
from models_registry.trust import needs_approval


class JSONValueField(serializers.JSONField):
    """A JSON value sent either as JSON (application/json) or as a JSON string (multipart)."""

    def __init__(self, *, expect: type, **kwargs: Any) -> None:
        self.expect = expect
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("must be valid JSON") from None
        if not isinstance(data, self.expect):
            raise serializers.ValidationError(f"must be a JSON {'list' if self.expect is list else 'object'}")
        return data


class AliasBriefSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.version", read_only=True)

    class Meta:
        model = ModelAlias
        fields = ["name", "version", "updated_at"]


class RegisteredModelSerializer(serializers.ModelSerializer):
    shared = serializers.BooleanField(source="is_shared", read_only=True)
    owner = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True, default=0)
    aliases = AliasBriefSerializer(many=True, read_only=True)

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "name",
            "task",
            "description",
            "shared",
            "owner",
            "version_count",
            "aliases",
            "created_at",
            "updated_at",
        ]

    def get_owner(self, obj: RegisteredModel) -> str:
        return obj.tenant.slug if obj.tenant else "platform"


class ModelCreateInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    task = serializers.ChoiceField(choices=RegisteredModel.Task.choices)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ModelUpdateInputSerializer(serializers.Serializer):
    description = serializers.CharField(allow_blank=True)


class ServingBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocalServing
        fields = ["id", "triton_name", "status", "error", "updated_at"]


class ModelVersionSerializer(serializers.ModelSerializer):
    model_id = serializers.IntegerField(read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    shared = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    artifact_file = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    serving_state = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model_id",
            "model_name",
            "shared",
            "version",
            "task",
            "backend",
            "artifact_file",
            "artifact_uri",
            "artifact_name",
            "artifact_size",
            "artifact_sha256",
            "inputs",
            "outputs",
            "max_batch_size",
            "parameters",
            "serving",
            "metrics",
            "source_run",
            "dataset_hash",
            "status",
            "error",
            "aliases",
            "created_by",
            "created_at",
            "serving_state",
            "approval",
        ]

    def get_shared(self, obj: ModelVersion) -> bool:
        return obj.tenant_id is None

    def get_aliases(self, obj: ModelVersion) -> list[str]:
        return sorted(a.name for a in obj.aliases.all())

    def get_artifact_file(self, obj: ModelVersion) -> str:
        return (obj.artifact.name or "").rsplit("/", 1)[-1] if obj.artifact else ""

    def get_created_by(self, obj: ModelVersion) -> str:
        user = obj.created_by
        return (user.email or user.get_username()) if user is not None else "system"

    def get_approval(self, obj: ModelVersion) -> dict[str, Any]:
        """Whether serving it on the shared Triton needs a platform operator's approval, and its state."""
        uri = "" if obj.artifact else obj.artifact_uri
        if not needs_approval(tenant_id=obj.tenant_id, backend=obj.backend, artifact_uri=uri):
            return {"required": False, "status": None}
        row = None
        if obj.artifact_sha256 and obj.tenant_id is not None:
            row = ArtifactApproval.objects.for_tenant(obj.tenant).filter(sha256=obj.artifact_sha256).first()
        return {"required": True, "status": row.status if row is not None else None}

    def get_serving_state(self, obj: ModelVersion) -> dict[str, Any] | None:
        try:
            row = obj.serving_state
        except LocalServing.DoesNotExist:
            return None
        return dict(ServingBriefSerializer(row).data)


class VersionRegisterInputSerializer(serializers.Serializer):
    backend = serializers.ChoiceField(choices=ModelVersion.Backend.choices)
    task = serializers.ChoiceField(choices=RegisteredModel.Task.choices, required=False)
    artifact = serializers.FileField(required=False, help_text="multipart upload of the model file")
    artifact_uri = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="builtin:minilm, file:///path, s3://bucket/key",
    )
    artifact_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    inputs = JSONValueField(expect=list)
    outputs = JSONValueField(expect=list)
    max_batch_size = serializers.IntegerField(min_value=0, default=0)
    parameters = JSONValueField(expect=dict, required=False, default=dict)
    metrics = JSONValueField(expect=dict, required=False, default=dict)
    serving = JSONValueField(
        expect=dict,
        required=False,
        default=dict,
        help_text="dynamic_batching, preferred_batch_sizes, max_queue_delay_us, "
        "instance_kind (KIND_CPU|KIND_GPU), instance_count",
    )
    source_run = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    dataset_hash = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class AliasSerializer(serializers.ModelSerializer):
    model_id = serializers.IntegerField(read_only=True)
    version = serializers.IntegerField(source="version.version", read_only=True)
    version_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModelAlias
        fields = ["id", "model_id", "name", "version", "version_id", "updated_at"]


class AliasSetInputSerializer(serializers.Serializer):
    """Either ``version`` (number within this model) or ``version_id`` (any visible version)."""

    version = serializers.IntegerField(required=False, min_value=1)
    version_id = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("version" in attrs) == ("version_id" in attrs):
            raise serializers.ValidationError("Give exactly one of 'version' (number) or 'version_id'.")
        return attrs


class CompareOutputSerializer(serializers.Serializer):
    versions = serializers.ListField(child=serializers.IntegerField())
    metrics = serializers.ListField(child=serializers.DictField())


class ServingSerializer(serializers.ModelSerializer):
    model_id = serializers.IntegerField(source="version.model_id", read_only=True)
    model_name = serializers.CharField(source="version.model.name", read_only=True)
    version = serializers.IntegerField(source="version.version", read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    shared = serializers.SerializerMethodField()

    class Meta:
        model = LocalServing
        fields = [
            "id",
            "model_id",
            "model_name",
            "version",
            "version_id",
            "shared",
            "triton_name",
            "status",
            "error",
            "attempts",
            "created_at",
            "updated_at",
            "ready_at",
        ]

    def get_shared(self, obj: LocalServing) -> bool:
        return obj.tenant_id is None


class ServerModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()
    inference_count = serializers.IntegerField()
    execution_count = serializers.IntegerField()
    success_count = serializers.IntegerField()
    fail_count = serializers.IntegerField()
    avg_request_ms = serializers.FloatField(allow_null=True)
    avg_queue_ms = serializers.FloatField(allow_null=True)
    avg_compute_ms = serializers.FloatField(allow_null=True)


class ServerStatusSerializer(serializers.Serializer):
    url = serializers.CharField()
    ready = serializers.BooleanField()
    error = serializers.CharField()
    models = ServerModelSerializer(many=True)
