"""Recommendations: catalog items, user events, training runs, A/B experiments and exposures.

Tenant rule: every model here has a non-null ``tenant`` FK and a ``TenantQuerySet`` manager;
code reaches rows only through ``.for_tenant(tenant)``. Item references in events, variants and
requests are resolved by ``external_id`` inside the tenant, so another tenant's ids are simply
unknown.

Status machine of a TrainingRun (see recommendations/services/training.py):
    queued -> running (stage: loading -> embedding -> training -> saving -> registering) -> ready
                \\--------------------------------------------------------------------> failed
At most one run per tenant is ``is_active`` (partial unique constraint); serving uses it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tenants.querysets import TenantOwnedModel, TenantQuerySet


class CatalogItem(TenantOwnedModel):
    """One recommendable item. ``external_id`` is the tenant's own id (unique per tenant).

    Deactivated items stay (events keep pointing at them) but are never recommended.
    ``updated_at`` doubles as the catalog's change stamp for serving caches.
    """

    external_id = models.CharField(max_length=256)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="uniq_recs_item_tenant_external_id")
        ]
        indexes = [
            models.Index(fields=["tenant", "category"], name="recs_item_tenant_category"),
            models.Index(fields=["tenant", "updated_at"], name="recs_item_tenant_updated"),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class Event(models.Model):
    """One user interaction with an item. Append-only; identical events are stored once.

    ``(tenant, user_id, timestamp, item, type)`` is unique: that index also serves the per-user
    history query (``tenant, user_id ORDER BY timestamp DESC``), so one index does both jobs.
    ``value`` is only meaningful for ratings (and kept, but ignored by training, for others).
    No ``updated_at``: events never change.
    """

    class Type(models.TextChoices):
        VIEW = "view", "View"
        CLICK = "click", "Click"
        ADD_TO_CART = "add_to_cart", "Add to cart"
        PURCHASE = "purchase", "Purchase"
        RATING = "rating", "Rating"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user_id = models.CharField(max_length=256)
    item = models.ForeignKey(CatalogItem, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    value = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField()
    context = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user_id", "timestamp", "item", "type"], name="uniq_recs_event")
        ]
        indexes = [models.Index(fields=["tenant", "timestamp"], name="recs_event_tenant_ts")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.type} {self.item_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class TrainingRun(TenantOwnedModel):
    """One training job and, when ready, the model version it produced.

    Invariants: ``version`` numbers runs per tenant (1, 2, ...). A run leaves ``queued`` only by
    the conditional-update claim in the task, ends ``ready`` (artifact saved, registry version
    created) or ``failed`` (``error`` is a sentence). Only a ready run can be active. A run
    whose worker died goes back to ``queued`` while ``attempts`` (claims so far) is below
    RECS_TRAIN_MAX_ATTEMPTS.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Stage(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        LOADING = "loading", "Loading events and catalog"
        EMBEDDING = "embedding", "Embedding item text"
        TRAINING = "training", "Training models"
        SAVING = "saving", "Saving the artifact"
        REGISTERING = "registering", "Registering the model version"
        DONE = "done", "Done"

    TERMINAL = (Status.READY, Status.FAILED)

    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0..1, for progress bars")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started this run")
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    data_hash = models.CharField(max_length=64, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True, help_text="Storage prefix of the artifact")
    model_version = models.ForeignKey(
        "models_registry.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "version"], name="uniq_recs_run_version"),
            models.UniqueConstraint(fields=["tenant"], condition=Q(is_active=True), name="uniq_recs_active_run"),
        ]

    def __str__(self) -> str:
        return f"recommender v{self.version}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class Experiment(TenantOwnedModel):
    """An A/B test between recommenders. ``variants`` is a list of
    ``{"name", "weight", "run_id"}`` (a ready TrainingRun of this tenant) or
    ``{"name", "weight", "strategy": "popularity"}``; names are unique, weights > 0.

    At most one experiment per tenant is running (serving buckets users into it). A stopped
    experiment keeps its exposures for the results; ``winner`` names the declared variant.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    variants = models.JSONField(default=list)
    attribution_window_s = models.PositiveIntegerField(default=24 * 3600)
    winner = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="uniq_recs_experiment_key"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(status="running"), name="uniq_recs_running_experiment"
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def variant(self, name: str) -> dict | None:
        return next((v for v in self.variants if v.get("name") == name), None)


class Exposure(models.Model):
    """One recommendation response served inside an experiment: who saw which items, when."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    variant = models.CharField(max_length=100)
    user_id = models.CharField(max_length=256)
    request_id = models.CharField(max_length=64, blank=True)
    item_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "experiment", "created_at"], name="recs_exposure_exp")]

    def __str__(self) -> str:
        return f"{self.experiment_id}/{self.variant} -> {self.user_id}"
