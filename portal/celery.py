"""Celery application (cookiecutter-django's config/celery_app.py shape) and ``enqueue``.

No custom task class: under Django, Celery uses its DjangoTask, which gives `delay_on_commit`.
"""

from __future__ import annotations

import os
from functools import partial
from importlib import import_module
from typing import Any

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(name: str, /, **kwargs: Any) -> None:
    """Send task ``name`` with ``kwargs`` when the current transaction commits (at once outside one).

    Sent by name, so a service never imports its app's ``tasks.py`` (tasks import services, never
    the reverse); ``CELERY_TASK_ROUTES`` picks the queue from the name. A rolled-back transaction
    sends nothing.
    """
    transaction.on_commit(partial(_send, name, kwargs))


def _send(name: str, kwargs: dict[str, Any]) -> None:
    if app.conf.task_always_eager:
        # send_task ignores eager mode; run the registered task in-process instead. Task names
        # are "<app>.<verb>", so the module that registers it is "<app>.tasks".
        import_module(f"{name.split('.', 1)[0]}.tasks")
        app.tasks[name].apply(kwargs=kwargs, throw=True)
        return
    app.send_task(name, kwargs=kwargs)
