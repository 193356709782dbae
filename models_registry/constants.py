"""Registry constants: well-known aliases and who may move them."""

from __future__ import annotations

# Suggested aliases (any slug is allowed); moving one in PROMOTE_ALIASES needs models.promote.
WELL_KNOWN_ALIASES = ("production", "staging", "champion")
PROMOTE_ALIASES = frozenset({"production"})
ALIAS_CAPABILITY_DEFAULT = "models.write"
