from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from recommendations.models import CatalogItem, Event, Exposure


class CatalogItemFilter(django_filters.FilterSet):
    category = django_filters.CharFilter()
    active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_q", help_text="Search in external id, title and description")

    class Meta:
        model = CatalogItem
        fields = ["category", "active", "q"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(external_id__icontains=value) | Q(title__icontains=value) | Q(description__icontains=value)
        )


class EventFilter(django_filters.FilterSet):
    user_id = django_filters.CharFilter()
    item_id = django_filters.CharFilter(field_name="item__external_id")
    type = django_filters.ChoiceFilter(choices=Event.Type.choices)
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["user_id", "item_id", "type", "since", "until"]


class ExposureFilter(django_filters.FilterSet):
    experiment = django_filters.CharFilter(field_name="experiment__key")
    variant = django_filters.CharFilter()
    user_id = django_filters.CharFilter()

    class Meta:
        model = Exposure
        fields = ["experiment", "variant", "user_id"]
