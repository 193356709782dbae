"""The periodic flush: metered buckets into hourly rows, then budgets re-checked."""

from __future__ import annotations

import logging

from usage import meter
from usage.services.quotas import budgets_refresh

logger = logging.getLogger(__name__)


def usage_flush() -> meter.FlushResult:
    result = meter.flush()
    budgets_refresh()
    if result.keys or result.skipped:
        logger.info(
            "usage flushed", extra={"keys": result.keys, "skipped": result.skipped, "counters": result.counters}
        )
    return result
