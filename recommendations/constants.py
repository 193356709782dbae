"""Limits and names shared by the recommendations services, API and console."""

from __future__ import annotations

# Bulk endpoints: larger requests are refused (413) with a message telling the client to split.
MAX_ROWS_PER_REQUEST = 10_000
MAX_BODY_BYTES = 8 * 1024 * 1024

MAX_USER_ID_CHARS = 256
MAX_EXTERNAL_ID_CHARS = 256
MAX_TITLE_CHARS = 500
MAX_CATEGORY_CHARS = 200
MAX_DESCRIPTION_CHARS = 20_000
MAX_TAGS = 50
MAX_TAG_CHARS = 100
MAX_JSON_FIELD_BYTES = 8 * 1024

# Event values: ratings live on a 0..10 scale; other values (quantity, price) are bounded so a
# typo like 1e300 is rejected instead of silently dominating training.
MAX_RATING = 10.0
MAX_EVENT_VALUE = 1_000_000.0
# Timestamps before this or more than this far in the future are treated as client bugs.
MIN_EVENT_YEAR = 1990
MAX_FUTURE_S = 24 * 3600

MIN_K = 1
MAX_K = 100
HISTORY_LIMIT = 500  # last events of a user read per request (the engine's max_history)

# Attribution: click/purchase events count for an exposure when they follow it within the window.
CLICK_TYPES = ("click",)
CONVERSION_TYPES = ("purchase",)

STRATEGY_POPULARITY = "popularity"
STRATEGIES = (STRATEGY_POPULARITY,)

REGISTRY_MODEL_NAME = "recommender"
ARTIFACT_PREFIX = "recommendations"
