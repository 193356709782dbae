"""Filters for the deploy API.

A filter on a foreign key must never build its own choice queryset: django-filter's default
`ModelChoiceFilter` would query `Deployment.objects.all()`, which the fail-closed tenant
queryset refuses (a 500). Filtering by the id on the already tenant-scoped list needs no second
queryset, and an id of another tenant simply matches nothing.
"""

from __future__ import annotations

import django_filters

from deploy.models import Rollout


class RolloutFilter(django_filters.FilterSet):
    deployment = django_filters.NumberFilter(field_name="deployment_id", help_text="Deployment id")
    state = django_filters.ChoiceFilter(choices=Rollout.State.choices)

    class Meta:
        model = Rollout
        fields = ["deployment", "state"]
