"""Recommendations services: the only code that writes catalog, events, runs and experiments."""

from recommendations.services.catalog import (
    CatalogImportResult,
    catalog_item_deactivate,
    catalog_items_upsert,
    parse_catalog_file,
)
from recommendations.services.events import EventIngestResult, events_ingest
from recommendations.services.experiments import experiment_create, experiment_results, experiment_stop
from recommendations.services.serving import ServedRecommendations, recommendation_serve
from recommendations.services.training import (
    training_run_activate,
    training_run_execute,
    training_run_start,
    training_run_worker_lost,
    training_runs_sweep_stale,
)

__all__ = [
    "CatalogImportResult",
    "EventIngestResult",
    "ServedRecommendations",
    "catalog_item_deactivate",
    "catalog_items_upsert",
    "events_ingest",
    "experiment_create",
    "experiment_results",
    "experiment_stop",
    "parse_catalog_file",
    "recommendation_serve",
    "training_run_activate",
    "training_run_execute",
    "training_run_start",
    "training_run_worker_lost",
    "training_runs_sweep_stale",
]
