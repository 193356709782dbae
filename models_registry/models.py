"""The model registry: models, immutable numbered versions, and movable aliases.

A RegisteredModel belongs to one tenant, or to nobody (`tenant=None`): platform-shared models are
visible read-only to every tenant (`RegistryQuerySet.visible_to`). Versions are append-only in
spirit (artifact and specs never change after registration); aliases such as `production` point
at one version per model and are the only thing that moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q

from tenants.querysets import TenantQuerySet, TenantScopeError

if TYPE_CHECKING:
    from tenants.models import Tenant


class RegistryQuerySet(TenantQuerySet):
    def visible_to(self, tenant: Tenant | None) -> RegistryQuerySet:
        """The tenant's own rows plus platform-shared ones (tenant IS NULL)."""
        if tenant is None or getattr(tenant, "pk", None) is None:
            raise TenantScopeError(f"{self.model.__name__}: a tenant is required")
        qs = self.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
        qs._scope = "tenant"
        qs._scoped_tenant_id = tenant.pk
        return qs


class RegisteredModel(models.Model):
    class Task(models.TextChoices):
        EMBEDDING = "embedding", "Embedding"
        GENERATION = "generation", "Generation (LLM)"
        RERANK = "rerank", "Reranking"
        RECOMMENDATION = "recommendation", "Recommendation"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    name = models.SlugField(max_length=100, help_text="Also the Triton model name")
    task = models.CharField(max_length=20, choices=Task.choices)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="uniq_model_tenant_name"),
            models.UniqueConstraint(fields=["name"], condition=Q(tenant__isnull=True), name="uniq_shared_model_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.tenant_id is None


class ModelVersion(models.Model):
    class Backend(models.TextChoices):
        PYTHON = "python", "Python"
        ONNXRUNTIME = "onnxruntime", "ONNX Runtime"
        PYTORCH = "pytorch", "PyTorch"
        TENSORRT = "tensorrt", "TensorRT"
        TENSORRTLLM = "tensorrtllm", "TensorRT-LLM"
        VLLM = "vllm", "vLLM"

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    task = models.CharField(max_length=20, choices=RegisteredModel.Task.choices)
    backend = models.CharField(max_length=20, choices=Backend.choices)
    artifact = models.FileField(upload_to="models/%Y/%m/", max_length=300, blank=True)
    artifact_uri = models.CharField(max_length=500, blank=True, help_text="builtin:<name>, s3://…, file path")
    artifact_size = models.PositiveBigIntegerField(null=True, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    inputs = models.JSONField(default=list, help_text="[{name, data_type, dims}]")
    outputs = models.JSONField(default=list)
    max_batch_size = models.PositiveIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # Lineage
    source_run = models.CharField(max_length=200, blank=True, help_text="training run or pipeline id")
    dataset_hash = models.CharField(max_length=64, blank=True)
    # File name of a single-file artifact inside the Triton version dir (model.py, model.onnx, ...).
    artifact_name = models.CharField(max_length=200, blank=True)
    # Triton serving knobs beyond tensors and parameters: dynamic_batching, preferred_batch_sizes,
    # max_queue_delay_us, instance_kind, instance_count (see inference.triton.specs.SERVING_KEYS).
    serving = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REGISTERED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["model_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="uniq_model_version")]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.version}"


class ModelAlias(models.Model):
    """`production`, `staging`, `champion`…: one version per alias per model."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.SlugField(max_length=50)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_at = models.DateTimeField(auto_now=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["model_id", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="uniq_alias_per_model")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"


class LocalServing(models.Model):
    """Status of one model version on the portal's local tritonserver (one row per version).

    Invariants: `tenant` equals the version's tenant (None for platform-shared models);
    `triton_name` is unique on the server (shared: the model name; tenant-owned:
    `<tenant slug>.<model name>`, dots cannot occur in slugs so the two never collide); at most
    one version per model is LOADING/READY at a time (loading a version replaces the other).
    """

    class Status(models.TextChoices):
        LOADING = "loading", "Loading"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        UNLOADING = "unloading", "Unloading"
        UNLOADED = "unloaded", "Unloaded"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="serving_state")
    triton_name = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LOADING)
    error = models.TextField(blank=True, help_text="Triton's reason when the load failed")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    objects = RegistryQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.triton_name} v{self.version.version}: {self.status}"


class ArtifactApproval(models.Model):
    """A platform operator's decision on one executable artifact (by sha256) of one tenant.

    Tenant-supplied code (``models_registry.trust.EXECUTABLE_BACKENDS``) loads on the shared
    local tritonserver only while an APPROVED row exists for (tenant, sha256). A PENDING row is
    recorded when a serve request or a local rollout meets an unapproved artifact, so operators
    see what waits; staff decide in the Django admin (audited in the tenant's chain). Different
    bytes are a different digest, hence a new row and a new decision. Not a tenant's to write.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved", "Approved"
        REVOKED = "revoked", "Revoked"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    backend = models.CharField(max_length=20, choices=ModelVersion.Backend.choices)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    version = models.ForeignKey(
        ModelVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="the version whose serving first asked for this artifact",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="why it was approved or revoked")

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["status", "-requested_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="uniq_artifact_approval")]
        permissions = [("approve_artifact", "Can approve tenant artifacts for the shared Triton server")]

    def __str__(self) -> str:
        return f"{self.backend} {self.sha256[:12]} ({self.status})"
