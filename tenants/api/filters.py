from __future__ import annotations

import django_filters

from tenants.models import AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="filter_actor", help_text="User id or part of the actor label")
    action = django_filters.CharFilter(method="filter_action", help_text="Exact action, or a prefix ending in '.'")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target_type", "target_id", "since", "until"]

    def filter_actor(self, queryset, name, value):  # type: ignore[no-untyped-def]
        if value.isdigit():
            return queryset.filter(actor_id=int(value))
        return queryset.filter(actor_label__icontains=value)

    def filter_action(self, queryset, name, value):  # type: ignore[no-untyped-def]
        if value.endswith("."):
            return queryset.filter(action__startswith=value)
        return queryset.filter(action=value)
