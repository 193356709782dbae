"""CSV/JSON download of audit events (shared by the API and the console)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

from django.http import HttpResponse

from portal.csv_export import csv_dict_writer
from tenants.api.serializers import AuditEventSerializer
from tenants.models import AuditEvent

EXPORT_LIMIT = 100_000
EXPORT_FIELDS = AuditEventSerializer.Meta.fields


def audit_export_response(*, events: Iterable[AuditEvent], fmt: str, filename: str) -> HttpResponse:
    rows = AuditEventSerializer(events, many=True).data
    if fmt == "json":
        resp = HttpResponse(json.dumps(rows, default=str, indent=1), content_type="application/json")
    else:
        buf = io.StringIO()
        writer = csv_dict_writer(buf, EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()})
        resp = HttpResponse(buf.getvalue(), content_type="text/csv")
    resp["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return resp
