"""Registry constants: well-known aliases and who may move them."""

from __future__ import annotations

# Suggested aliases (any slug is allowed); moving one in PROMOTE_ALIASES needs models.promote.
WELL_KNOWN_ALIASES = ("production", "staging", "champion")
PROMOTE_ALIASES = frozenset({"production"})
ALIAS_CAPABILITY_DEFAULT = "models.write"

# ``storage:<folder>``: an artifact a portal app wrote to the portal's own file storage (Django
# default_storage) and serves in-process, e.g. a trained recommender. Triton never loads it, so it
# has no tensor spec; only the platform's code (a system actor) may register one.
STORAGE_URI_PREFIX = "storage:"


def storage_artifact_uri(folder: str) -> str:
    """The ``artifact_uri`` of the files under ``folder`` in the portal's default storage."""
    return f"{STORAGE_URI_PREFIX}{folder.strip('/')}"
