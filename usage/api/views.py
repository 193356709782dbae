"""Usage API: the priced summary, time series (JSON and CSV), and the tenant's quotas.

Thin views: parameters are parsed here into a period, reads come from ``usage.selectors`` and
quota changes go through ``usage.services.quota_update``. Every 4xx is documented in the schema
(by ``portal.openapi.add_error_responses``, the same ``ApiError`` body everywhere).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from portal.csv_export import csv_dict_writer
from portal.exceptions import ApplicationError
from tenants.api.base import TenantScopedAPIView
from usage.api.serializers import QuotaSerializer, QuotaValuesSerializer, UsageSeriesSerializer, UsageSummarySerializer
from usage.models import TenantQuota
from usage.selectors import (
    FEATURES,
    QUOTA_FIELDS,
    month_start,
    quota_effective,
    usage_rows,
    usage_series,
    usage_summary,
)
from usage.services import quota_update

MAX_HOURLY_RANGE_DAYS = 93

PERIOD_PARAMS = [
    OpenApiParameter(
        "since", OpenApiTypes.STR, description="ISO 8601 date or datetime (UTC if naive); default: start of this month."
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description="ISO 8601 date or datetime, exclusive; default: the end of the current hour.",
    ),
]
SERIES_PARAMS = [
    *PERIOD_PARAMS,
    OpenApiParameter("granularity", OpenApiTypes.STR, enum=["hour", "day"], description="Default: day."),
    OpenApiParameter("feature", OpenApiTypes.STR, enum=sorted(FEATURES), description="Only this feature."),
]


def _when(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    raw = raw.strip()
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            value = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        value = None
    if value is None:
        raise ApplicationError(f"{name}: '{raw[:40]}' is not an ISO 8601 date or datetime (e.g. 2026-05-01).")
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def parse_period(request: Request, *, max_days: int | None = None) -> tuple[datetime, datetime]:
    now = timezone.now()
    since = _when(request.query_params.get("since"), "since") or month_start(now)
    until = _when(request.query_params.get("until"), "until") or (
        now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    )
    if since >= until:
        raise ApplicationError(f"since ({since.isoformat()}) must be before until ({until.isoformat()}).")
    limit = max_days or int(settings.USAGE_MAX_RANGE_DAYS)
    if until - since > timedelta(days=limit):
        raise ApplicationError(
            f"The period from {since:%Y-%m-%d} to {until:%Y-%m-%d} is longer than {limit} days; ask for a shorter range."
        )
    return since, until


def _series_args(request: Request) -> dict[str, Any]:
    granularity = request.query_params.get("granularity") or "day"
    if granularity not in ("hour", "day"):
        raise ApplicationError(f"granularity must be 'hour' or 'day', got '{granularity[:20]}'.")
    feature = request.query_params.get("feature") or None
    if feature is not None and feature not in FEATURES:
        raise ApplicationError(f"Unknown feature '{feature[:40]}'; features are: {', '.join(sorted(FEATURES))}.")
    since, until = parse_period(request, max_days=MAX_HOURLY_RANGE_DAYS if granularity == "hour" else None)
    return {"since": since, "until": until, "granularity": granularity, "feature": feature}


class _UsageBase(TenantScopedAPIView):
    required_capability = {"get": "usage.view"}

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return usage_rows(tenant=self.tenant, since=month_start(timezone.now()), until=timezone.now())


class UsageSummaryView(_UsageBase):
    """Metered usage and its cost per feature over a period, month to date and projected."""

    @extend_schema(parameters=PERIOD_PARAMS, responses={200: UsageSummarySerializer})
    def get(self, request: Request) -> Response:
        since, until = parse_period(request)
        return Response(UsageSummarySerializer(usage_summary(tenant=self.tenant, since=since, until=until)).data)


class UsageSeriesView(_UsageBase):
    """Usage per hour or per day, per feature and metric (inference time in milliseconds)."""

    @extend_schema(parameters=SERIES_PARAMS, responses={200: UsageSeriesSerializer})
    def get(self, request: Request) -> Response:
        args = _series_args(request)
        points = usage_series(tenant=self.tenant, **args)
        body = {
            "period": {"since": args["since"], "until": args["until"]},
            "granularity": args["granularity"],
            "points": points,
        }
        return Response(UsageSeriesSerializer(body).data)


class UsageExportView(_UsageBase):
    """The same series as CSV (one row per period, feature and metric)."""

    @extend_schema(parameters=SERIES_PARAMS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse:
        args = _series_args(request)
        buf = io.StringIO()
        writer = csv_dict_writer(buf, ["start", "feature", "metric", "value"])
        writer.writeheader()
        for p in usage_series(tenant=self.tenant, **args):
            writer.writerow({**p, "start": p["start"].isoformat()})
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="usage-{self.tenant.slug}-{args["granularity"]}.csv"'
        return response


class QuotaView(TenantScopedAPIView):
    """The tenant's quotas: read (viewers), change within the platform's bounds (owners/admins)."""

    required_capability = {"get": "usage.view", "patch": "usage.quotas"}
    serializer_class = QuotaValuesSerializer

    def get_tenant_queryset(self):  # type: ignore[no-untyped-def]
        return TenantQuota.objects.for_tenant(self.tenant)

    def _body(self) -> dict[str, Any]:
        quota = quota_effective(tenant=self.tenant)
        return {
            "limits": quota.values,
            "tenant_set": quota.overridden,
            "bounds": {f: list(settings.USAGE_QUOTA_BOUNDS[f]) for f in QUOTA_FIELDS},
            "budget_exhausted": quota.budget_exhausted_month == f"{timezone.now():%Y-%m}",
        }

    @extend_schema(responses={200: QuotaSerializer})
    def get(self, request: Request) -> Response:
        return Response(QuotaSerializer(self._body()).data)

    @extend_schema(request=QuotaValuesSerializer, responses={200: QuotaSerializer})
    def patch(self, request: Request) -> Response:
        # Values are validated by the service (bounds, whole numbers), which names the field.
        quota_update(
            tenant=self.tenant, actor=self.actor, changes=request.data if isinstance(request.data, dict) else {}
        )
        return Response(QuotaSerializer(self._body()).data)
