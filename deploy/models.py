"""Deployments: capacity plans, clusters, deployments, revisions, rollouts and their events.

Tenant rule: every model with a `tenant` FK is reached only through `.for_tenant(tenant)`
(TenantQuerySet); child rows without one (`DeploymentModel`, `RolloutEvent`) are reached only
through their tenant-scoped parent.

Rollout invariants (enforced by the database, not only in Python):
- at most one rollout per deployment is in progress: a partial unique index over the
  non-terminal states (`uniq_rollout_in_progress`); a second start is an IntegrityError -> 409;
- state changes are conditional updates on (pk, state, claim token), so a worker and the sweep
  can never both finish the same rollout;
- a revision's `spec` and `manifests` never change after creation: rollback re-applies them.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from deploy.constants import DEPLOYMENT_NAME_MAX
from tenants.querysets import TenantOwnedModel

DNS1035_LABEL = RegexValidator(
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
    "Must start with a lowercase letter, contain only lowercase letters, digits or '-', and end with "
    "a letter or digit (DNS-1035 label: the name also names a Kubernetes Service).",
)
DNS1123_LABEL = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "Must contain only lowercase letters, digits or '-', and start and end with a letter or digit (DNS-1123 label).",
)
QUANTITY = RegexValidator(
    r"^[+]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$",
    "Not a Kubernetes quantity (e.g. '500m', '2', '16Gi').",
)
MIG_PROFILE = re.compile(r"^\d+g\.\d+gb(\+me)?$")


class CapacityPlan(TenantOwnedModel):
    """One run of the pure planner: its inputs, its full result and the catalog data versions.

    Immutable after creation (re-planning creates a new row), so a deployment created from a plan
    can always show what was predicted and from which data.
    """

    name = models.CharField(max_length=100, blank=True)
    inputs = models.JSONField()
    result = models.JSONField()
    feasible = models.BooleanField()
    data_versions = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="deploy_plan_tenant_created")]

    def __str__(self) -> str:
        return self.name or f"plan {self.pk}"

    @property
    def recommended(self) -> dict | None:
        return (self.result or {}).get("recommended")


class KubeCluster(TenantOwnedModel):
    """A Kubernetes API endpoint and the credentials to reach it, encrypted at rest (Fernet).

    `credentials_encrypted` holds a Fernet token of a JSON object ({"token", "ca_cert_pem"} or
    {"kubeconfig", "context"}); it is never serialised by the API or echoed by the console.
    """

    class AuthKind(models.TextChoices):
        TOKEN = "token", "API server URL + bearer token"
        KUBECONFIG = "kubeconfig", "kubeconfig (embedded credentials only)"

    name = models.CharField(max_length=63, validators=[DNS1123_LABEL])
    api_server = models.CharField(max_length=300, blank=True, help_text="https://host:6443 (token auth)")
    auth_kind = models.CharField(max_length=16, choices=AuthKind.choices, default=AuthKind.TOKEN)
    credentials_encrypted = models.TextField(editable=False)
    verify_ssl = models.BooleanField(default=True)
    k8s_version = models.CharField(max_length=10, default="1.31")
    default_namespace = models.CharField(max_length=63, blank=True, validators=[DNS1123_LABEL])
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_error = models.TextField(blank=True)
    server_version = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_cluster_tenant_name")]

    def __str__(self) -> str:
        return self.name


class Deployment(TenantOwnedModel):
    """What should run where: model versions served, sizing, autoscaling and SLO targets.

    `target` is "kubernetes" (then `cluster` and `namespace` are required) or "local" (the
    portal's own tritonserver). `active_revision` is the revision live on the target, changed
    only by a rollout reaching `active` or a rollback reaching `rolled_back`.
    """

    class Target(models.TextChoices):
        KUBERNETES = "kubernetes", "Kubernetes"
        LOCAL = "local", "Local Triton"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (never rolled out)"
        ROLLING_OUT = "rolling_out", "Rolling out"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Metric(models.TextChoices):
        CPU = "cpu", "CPU utilisation"
        GPU = "gpu", "GPU utilisation"
        QUEUE_TIME = "queue_time", "Triton queue time"

    name = models.CharField(max_length=DEPLOYMENT_NAME_MAX, validators=[DNS1035_LABEL])
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.KUBERNETES)
    cluster = models.ForeignKey(KubeCluster, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    namespace = models.CharField(max_length=63, blank=True, validators=[DNS1123_LABEL])
    model_repository = models.CharField(
        max_length=300, blank=True, help_text="s3://bucket/prefix, gs://…, or pvc://claim[/path] (Kubernetes)"
    )
    plan = models.ForeignKey(CapacityPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    replicas = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    min_replicas = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    max_replicas = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    gpus_per_replica = models.PositiveIntegerField(default=1, validators=[MaxValueValidator(16)])
    gpu_type = models.CharField(max_length=63, blank=True, help_text="catalog GPU name, e.g. L4, H100-SXM-80GB")
    mig_profile = models.CharField(max_length=20, blank=True, help_text="e.g. 1g.10gb")
    time_slicing = models.BooleanField(default=False)
    cpu_request = models.CharField(max_length=20, default="2", validators=[QUANTITY])
    cpu_limit = models.CharField(max_length=20, default="4", validators=[QUANTITY])
    memory_request = models.CharField(max_length=20, default="8Gi", validators=[QUANTITY])
    memory_limit = models.CharField(max_length=20, default="16Gi", validators=[QUANTITY])
    autoscaling_metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.CPU)
    autoscaling_target = models.FloatField(default=70, validators=[MinValueValidator(0.001)])
    # SLO targets: {"percentile": 90, "ttft_ms":..., "tpot_ms":..., "e2e_ms":..., "concurrency": n}
    slo = models.JSONField(default=dict, blank=True)
    # What the plan predicted for this deployment (copied when created from a plan).
    predicted = models.JSONField(default=dict, blank=True)
    # Plan vs actual on the local target: the latest latency measurement.
    measurement = models.JSONField(default=dict, blank=True)
    rollout_timeout_s = models.PositiveIntegerField(default=900, validators=[MinValueValidator(10)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(blank=True)
    active_revision = models.ForeignKey("Revision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_deployment_tenant_name"),
            models.CheckConstraint(
                condition=Q(min_replicas__lte=models.F("max_replicas")), name="deployment_min_le_max_replicas"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.target == self.Target.KUBERNETES:
            if self.cluster_id is None:
                errors["cluster"] = "A Kubernetes deployment needs a cluster."
            if not self.namespace:
                errors["namespace"] = "A Kubernetes deployment needs a namespace."
            if not self.model_repository:
                errors["model_repository"] = "A Kubernetes deployment needs a model repository (s3://, gs://, pvc://)."
        elif self.cluster_id is not None:
            errors["cluster"] = "A local deployment has no cluster."
        if self.min_replicas > self.max_replicas:
            errors["max_replicas"] = f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})."
        elif not self.min_replicas <= self.replicas <= self.max_replicas:
            errors["replicas"] = (
                f"replicas must lie between min_replicas and max_replicas ({self.min_replicas}-{self.max_replicas})."
            )
        if self.mig_profile and not MIG_PROFILE.match(self.mig_profile):
            errors["mig_profile"] = f"'{self.mig_profile}' is not a MIG profile (e.g. '1g.10gb')."
        if self.mig_profile and self.time_slicing:
            errors["time_slicing"] = "MIG and time-slicing are mutually exclusive."
        if self.gpus_per_replica == 0 and (self.mig_profile or self.time_slicing or self.gpu_type):
            errors["gpus_per_replica"] = "GPU type, MIG profile or time-slicing need at least one GPU per replica."
        if errors:
            raise ValidationError(errors)


class DeploymentModel(models.Model):
    """A model version served by a deployment: pinned (`model_version`) or following an alias.

    Alias entries resolve to the alias's version when a rollout starts; the revision records
    the resolved version, so a later alias move changes nothing until the next rollout.
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="served")
    model_version = models.ForeignKey(
        "models_registry.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    model_alias = models.ForeignKey(
        "models_registry.ModelAlias", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(model_version__isnull=False, model_alias__isnull=True)
                    | Q(model_version__isnull=True, model_alias__isnull=False)
                ),
                name="deploymentmodel_version_xor_alias",
            ),
        ]

    def __str__(self) -> str:
        return str(self.model_version or self.model_alias)

    def resolved_version(self):  # type: ignore[no-untyped-def]
        return self.model_version if self.model_version_id else self.model_alias.version  # type: ignore[union-attr]


class Revision(TenantOwnedModel):
    """One immutable snapshot of a deployment: the spec it was built from and its manifests
    (Kubernetes objects, or local Triton model entries). Numbered 1, 2, … per deployment."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    manifests = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["deployment_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="uniq_revision_number"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment.name} r{self.number}"


class Rollout(TenantOwnedModel):
    """Moving a deployment to one revision, run by a Celery worker as a state machine:

    pending -> applying -> waiting -> verifying -> active
    any of applying/waiting/verifying -> failed (first rollout: what was applied is removed)
                                      -> rolling_back -> rolled_back | failed
    Terminal: active, failed, rolled_back. `claim_token` changes at every claim, so a worker
    that lost its claim (the sweep took over) cannot write further transitions.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLYING = "applying", "Applying"
        WAITING = "waiting", "Waiting for rollout"
        VERIFYING = "verifying", "Verifying readiness"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        ROLLING_BACK = "rolling_back", "Rolling back"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Kind(models.TextChoices):
        ROLLOUT = "rollout", "Rollout"
        ROLLBACK = "rollback", "Manual rollback"

    IN_PROGRESS = ("pending", "applying", "waiting", "verifying", "rolling_back")
    TERMINAL = ("active", "failed", "rolled_back")

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="rollouts")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    previous_revision = models.ForeignKey(Revision, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ROLLOUT)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Idempotency key for the target's side effects (stored with every apply as an annotation).
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    claim_token = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    # What went wrong (failed) or why it was rolled back; empty when active.
    reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment"],
                condition=Q(state__in=["pending", "applying", "waiting", "verifying", "rolling_back"]),
                name="uniq_rollout_in_progress",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline_at"], name="deploy_rollout_state_deadline")]

    def __str__(self) -> str:
        return f"rollout {self.pk} of {self.deployment_id} ({self.state})"

    @property
    def in_progress(self) -> bool:
        return self.state in self.IN_PROGRESS


class RolloutEvent(models.Model):
    """One step of a rollout, shown live in the console. Append-only."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    state = models.CharField(max_length=16, choices=Rollout.State.choices)
    message = models.TextField()
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.state}: {self.message[:60]}"
