"""Celery application (cookiecutter-django's config/celery_app.py shape) and ``enqueue``.

No custom task class: under Django, Celery uses its DjangoTask, which gives `delay_on_commit`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from importlib import import_module
from typing import Any

from celery import Celery
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

#: What sending raises when the broker cannot be reached (after kombu's own publish retries).
SEND_ERRORS: tuple[type[Exception], ...] = (OperationalError, ConnectionError, TimeoutError)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(name: str, /, *, on_send_error: Callable[[Exception], None] | None = None, **kwargs: Any) -> None:
    """Send task ``name`` with ``kwargs`` when the current transaction commits (at once outside one).

    Sent by name, so a service never imports its app's ``tasks.py`` (tasks import services, never
    the reverse); ``CELERY_TASK_ROUTES`` picks the queue from the name. A rolled-back transaction
    sends nothing.

    Broker down: the rows are already committed, so the send error must not turn the request
    into a 500 (nor make the caller undo half of what it committed). It is logged and handed to
    ``on_send_error`` (which records on the row that it is still to be queued); each app's
    periodic sweep sends what was not sent once the broker is back.
    """
    transaction.on_commit(partial(_send, name, kwargs, on_send_error))


def _send(name: str, kwargs: dict[str, Any], on_send_error: Callable[[Exception], None] | None = None) -> None:
    if app.conf.task_always_eager:
        # send_task ignores eager mode; run the registered task in-process instead. Task names
        # are "<app>.<verb>", so the module that registers it is "<app>.tasks".
        import_module(f"{name.split('.', 1)[0]}.tasks")
        app.tasks[name].apply(kwargs=kwargs, throw=True)
        return
    try:
        app.send_task(name, kwargs=kwargs)
    except SEND_ERRORS as exc:
        logger.error(
            "could not send task %s %s: the broker is unavailable (%s); its sweep sends it later", name, kwargs, exc
        )
        if on_send_error is not None:
            on_send_error(exc)
