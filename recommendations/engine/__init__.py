"""Recommendation engine core: pure Python + numpy/scipy, no Django imports.

Public API (see each module for invariants):

* :class:`InteractionData`, :class:`ItemMeta`, :class:`EventWeights` (``data``)
* :func:`train`, :class:`TrainParams` (``train``) -> :class:`TrainedModel` (``model``)
* :func:`save_artifact`, :func:`load_artifact`, :func:`read_meta` (``artifact``)
* :class:`Recommender`, :class:`Recommendation` (``serve``)
* errors: :class:`EngineError`, :class:`TrainingError`, :class:`ArtifactError`, :class:`InvalidEventError`
"""

from __future__ import annotations

from recommendations.engine.artifact import load_artifact, read_meta, save_artifact
from recommendations.engine.data import EVENT_TYPES, EventWeights, InteractionData, ItemMeta
from recommendations.engine.errors import ArtifactError, EngineError, InvalidEventError, TrainingError
from recommendations.engine.model import FORMAT_VERSION, ModelState, TrainedModel
from recommendations.engine.serve import Recommendation, Recommender
from recommendations.engine.train import TrainParams, train

__all__ = [
    "EVENT_TYPES",
    "FORMAT_VERSION",
    "ArtifactError",
    "EngineError",
    "EventWeights",
    "InteractionData",
    "InvalidEventError",
    "ItemMeta",
    "ModelState",
    "Recommendation",
    "Recommender",
    "TrainParams",
    "TrainedModel",
    "TrainingError",
    "load_artifact",
    "read_meta",
    "save_artifact",
    "train",
]
