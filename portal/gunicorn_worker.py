"""gunicorn's thread worker, stamping when each connection was queued for a worker thread.

gunicorn (27.x) hands every ready connection to its thread pool through one method,
``ThreadWorker.enqueue_req``; the time between that and a thread picking it up is the queueing
that :mod:`portal.overload` bounds. Used by ``portal/gunicorn.conf.py``
(``worker_class = "portal.gunicorn_worker.QueueTimedThreadWorker"``).
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from portal.overload import set_queued_since


class QueueTimedThreadWorker(ThreadWorker):  # type: ignore[misc]
    def enqueue_req(self, conn: Any) -> None:
        conn.portal_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        set_queued_since(getattr(conn, "portal_queued_at", None))
        try:
            return super().handle(conn)
        finally:
            set_queued_since(None)
