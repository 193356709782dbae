"""Input and output serializers for the deployments API. Cluster credentials are write-only
inputs and appear in no output serializer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from deploy.models import CapacityPlan, Deployment, KubeCluster, Revision, Rollout, RolloutEvent


class CapacityPlanSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = CapacityPlan
        fields = ["id", "name", "feasible", "inputs", "result", "data_versions", "created_by", "created_at"]
        read_only_fields = fields


class CapacityPlanDeployInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    target = serializers.ChoiceField(choices=Deployment.Target.choices, default=Deployment.Target.KUBERNETES)
    cluster_id = serializers.IntegerField(required=False, allow_null=True)
    namespace = serializers.CharField(max_length=100, required=False, allow_blank=True)
    model_repository = serializers.CharField(max_length=300, required=False, allow_blank=True)
    model_version_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    model_alias_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class KubeClusterSerializer(serializers.ModelSerializer):
    class Meta:
        model = KubeCluster
        fields = [
            "id",
            "name",
            "api_server",
            "auth_kind",
            "verify_ssl",
            "k8s_version",
            "default_namespace",
            "last_checked_at",
            "last_check_ok",
            "last_check_error",
            "server_version",
            "created_at",
        ]
        read_only_fields = fields


class KubeClusterCredentialsInputSerializer(serializers.Serializer):
    auth_kind = serializers.ChoiceField(choices=KubeCluster.AuthKind.choices, default=KubeCluster.AuthKind.TOKEN)
    api_server = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    token = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        style={"input_type": "password"},
        trim_whitespace=True,
        max_length=20000,
    )
    ca_cert_pem = serializers.CharField(required=False, allow_blank=True, default="", write_only=True, max_length=20000)
    kubeconfig = serializers.CharField(required=False, allow_blank=True, default="", write_only=True, max_length=200000)
    # the kubeconfig context; SerializerMetaclass pops declared fields, so Field.context is not shadowed
    context = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)  # type: ignore[assignment]


class KubeClusterCreateInputSerializer(KubeClusterCredentialsInputSerializer):
    name = serializers.CharField(max_length=100)
    verify_ssl = serializers.BooleanField(default=True)
    k8s_version = serializers.CharField(max_length=10, default="1.31")
    default_namespace = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ServedModelSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    model_alias_id = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    version = serializers.IntegerField()
    alias = serializers.CharField(allow_null=True)
    shared = serializers.BooleanField()


def served_models(deployment: Deployment) -> list[dict[str, Any]]:
    out = []
    for s in deployment.served.all():
        version = s.resolved_version()
        out.append(
            {
                "model_version_id": version.pk,
                "model_alias_id": s.model_alias_id,
                "model": version.model.name,
                "version": version.version,
                "alias": s.model_alias.name if s.model_alias is not None else None,
                "shared": version.tenant_id is None,
            }
        )
    return out


class DeploymentSerializer(serializers.ModelSerializer):
    cluster = serializers.SerializerMethodField()
    models = serializers.SerializerMethodField()
    active_revision = serializers.IntegerField(
        source="active_revision.number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "name",
            "target",
            "cluster",
            "namespace",
            "model_repository",
            "plan",
            "models",
            "replicas",
            "min_replicas",
            "max_replicas",
            "gpus_per_replica",
            "gpu_type",
            "mig_profile",
            "time_slicing",
            "cpu_request",
            "cpu_limit",
            "memory_request",
            "memory_limit",
            "autoscaling_metric",
            "autoscaling_target",
            "slo",
            "predicted",
            "measurement",
            "rollout_timeout_s",
            "status",
            "status_reason",
            "active_revision",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_cluster(self, obj: Deployment) -> dict[str, Any] | None:
        return {"id": obj.cluster.pk, "name": obj.cluster.name} if obj.cluster else None

    def get_models(self, obj: Deployment) -> list[dict[str, Any]]:
        return list(ServedModelSerializer(served_models(obj), many=True).data)


class DeploymentInputSerializer(serializers.Serializer):
    """Create (name required) or partial update. Names, namespaces and quantities are validated by
    the model (one place); errors come back as 400 naming the field."""

    name = serializers.CharField(max_length=100)
    target = serializers.ChoiceField(choices=Deployment.Target.choices, required=False)
    cluster_id = serializers.IntegerField(required=False, allow_null=True)
    namespace = serializers.CharField(max_length=100, required=False, allow_blank=True)
    model_repository = serializers.CharField(max_length=300, required=False, allow_blank=True)
    model_version_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    model_alias_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    replicas = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    min_replicas = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    max_replicas = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    gpus_per_replica = serializers.IntegerField(required=False, min_value=0, max_value=16)
    gpu_type = serializers.CharField(max_length=63, required=False, allow_blank=True)
    mig_profile = serializers.CharField(max_length=20, required=False, allow_blank=True)
    time_slicing = serializers.BooleanField(required=False)
    cpu_request = serializers.CharField(max_length=20, required=False)
    cpu_limit = serializers.CharField(max_length=20, required=False)
    memory_request = serializers.CharField(max_length=20, required=False)
    memory_limit = serializers.CharField(max_length=20, required=False)
    autoscaling_metric = serializers.ChoiceField(choices=Deployment.Metric.choices, required=False)
    autoscaling_target = serializers.FloatField(required=False, min_value=0.001)
    slo = serializers.DictField(required=False)
    rollout_timeout_s = serializers.IntegerField(required=False, min_value=10, max_value=86400)

    def validate_slo(self, value: dict[str, Any]) -> dict[str, Any]:
        allowed = {"percentile", "ttft_ms", "tpot_ms", "e2e_ms", "concurrency"}
        unknown = set(value) - allowed
        if unknown:
            raise serializers.ValidationError(f"unknown SLO key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        for key, v in value.items():
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                raise serializers.ValidationError(f"{key} must be a positive number")
        return value


class RolloutEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RolloutEvent
        fields = ["id", "state", "message", "detail", "created_at"]
        read_only_fields = fields


class RolloutSerializer(serializers.ModelSerializer):
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    revision = serializers.IntegerField(source="revision.number", read_only=True)
    previous_revision = serializers.IntegerField(
        source="previous_revision.number", read_only=True, default=None, allow_null=True
    )
    events = RolloutEventSerializer(many=True, read_only=True)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "deployment",
            "kind",
            "state",
            "revision",
            "previous_revision",
            "reason",
            "attempts",
            "deadline_at",
            "finished_at",
            "created_at",
            "events",
        ]
        read_only_fields = fields


class RevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Revision
        fields = ["id", "number", "spec", "manifests", "created_at"]
        read_only_fields = fields


class RollbackInputSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, help_text="The revision number to roll back to.")
