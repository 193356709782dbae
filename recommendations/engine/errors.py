"""Exceptions raised by the recommendation engine.

They are plain ``Exception`` subclasses so this package stays importable without Django; the
lead's service layer can wrap them in ``portal.exceptions.ApplicationError`` subclasses.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidEventError(EngineError, ValueError):
    """An input event is malformed (unknown event type, non-finite timestamp, empty key...)."""


class TrainingError(EngineError):
    """Training cannot produce a model from the given data (for example: no events)."""


class ArtifactError(EngineError):
    """An artifact is missing, corrupt, or written by an incompatible format version."""
