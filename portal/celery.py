"""Celery application (cookiecutter-django's config/celery_app.py shape).

No custom task class: under Django, Celery uses its DjangoTask, which gives `delay_on_commit`.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
