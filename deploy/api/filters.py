"""Filters for the deploy API.

A filter on a foreign key must never build its own choice queryset: django-filter's default
`ModelChoiceFilter` would query `Deployment.objects.all()`, which the fail-closed tenant
queryset refuses (a 500). Filtering by the id on the already tenant-scoped list needs no second
queryset, and an id of another tenant simply matches nothing.
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from deploy.models import Rollout

MAX_ID = 2**63 - 1  # a BIGINT primary key; a larger number would overflow the database driver


@extend_schema_field({"type": "integer", "minimum": 0, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number within the key's range (NumberFilter alone takes "0.75",
    documents a float, and hands 10**30 to the driver: an OverflowError, a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class RolloutFilter(django_filters.FilterSet):
    deployment = IdFilter(field_name="deployment_id", help_text="Deployment id")
    state = django_filters.ChoiceFilter(choices=Rollout.State.choices)

    class Meta:
        model = Rollout
        fields = ["deployment", "state"]
