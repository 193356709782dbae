"""gunicorn settings for production: ``gunicorn -c portal/gunicorn.conf.py portal.wsgi``.

The thread worker stamps when each connection was queued for a thread, so the portal can shed
requests that waited too long (``OVERLOAD_MAX_QUEUE_MS``, portal/overload.py). Each value can be
overridden by gunicorn's own ``GUNICORN_CMD_ARGS`` or by command-line flags.
"""

import os

bind = os.environ.get("PORTAL_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("PORTAL_THREADS", "4"))
worker_class = "portal.gunicorn_worker.QueueTimedThreadWorker"
timeout = 120
# Connections queued per worker beyond this are not accepted; the queue-time bound sheds most
# excess long before.
worker_connections = 200
