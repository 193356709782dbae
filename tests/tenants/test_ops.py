"""Operations: health, readiness, metrics, OpenAPI, request ids in JSON logs, deploy checks, CLI."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from drf_spectacular.validation import validate_schema
from pythonjsonlogger.json import JsonFormatter

from portal import health
from tenants.models import AuditEvent, Membership, Tenant

REPO = Path(__file__).resolve().parents[2]


# -- health ----------------------------------------------------------------------------------------


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    assert "no-cache" in resp["Cache-Control"] or "max-age=0" in resp["Cache-Control"]


def test_readyz_reports_each_dependency(db, client, settings, milvus_server):
    settings.MILVUS_URI = milvus_server.uri  # a real Milvus Lite; nothing listens on the default port here
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "ok"
    assert {"database", "broker", "milvus"} <= set(body["checks"])
    assert body["checks"]["milvus"]["ok"] is True and body["checks"]["milvus"]["detail"] == milvus_server.uri
    # The same suite runs on SQLite + in-memory broker locally and PostgreSQL + Redis in CI.
    from django.conf import settings
    from django.db import connection

    assert body["checks"]["database"] == {**body["checks"]["database"], "ok": True, "detail": connection.vendor}
    assert body["checks"]["broker"]["ok"] is True
    if settings.CELERY_BROKER_URL.startswith("memory://"):
        assert body["checks"]["broker"]["detail"] == "memory"
    assert all(isinstance(c["ms"], float | int) for c in body["checks"].values())


def test_readyz_names_the_dependency_that_is_down(db, client, monkeypatch):
    def milvus_down():
        raise ConnectionRefusedError("127.0.0.1:19530 refused")

    monkeypatch.setitem(health._CHECKS, "milvus", milvus_down)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["milvus"]["ok"] is False
    assert "ConnectionRefusedError: 127.0.0.1:19530 refused" in body["checks"]["milvus"]["detail"]
    assert body["checks"]["database"]["ok"] is True


def test_metrics_exposes_django_http_metrics(db, client):
    client.get("/healthz")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    text = resp.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert re.search(r'django_http_responses_total_by_status_total\{status="200"\} [1-9]', text)


# -- OpenAPI ---------------------------------------------------------------------------------------


def test_schema_generates_without_warnings(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn` is clean for the whole API, and every
    DRF endpoint of every app is in the document (a view the generator skips would hide there)."""
    import yaml
    from drf_spectacular.generators import EndpointEnumerator

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    def shape(path: str) -> str:  # the schema names path parameters after the model field ({id})
        return re.sub(r"\{[^}]+\}", "{}", path)

    paths: dict[str, set[str]] = {}
    for path, operations in yaml.safe_load(out.read_text())["paths"].items():
        paths.setdefault(shape(path), set()).update(operations)
    endpoints = [e for e in EndpointEnumerator().get_api_endpoints() if e[0].startswith("/api/v1/")]
    apps_with_api = {callback.cls.__module__.split(".")[0] for _, _, _, callback in endpoints}
    assert apps_with_api == {"tenants", "usage", "models_registry", "deploy", "recommendations", "documents", "qa"}
    missing = [
        f"{method} {path}" for path, _, method, _ in endpoints if method.lower() not in paths.get(shape(path), ())
    ]
    assert missing == []


def test_schema_endpoint_serves_a_valid_openapi_document(db, client):
    resp = client.get("/api/schema/?format=json")
    assert resp.status_code == 200
    doc = json.loads(resp.content)
    validate_schema(doc)  # raises on an invalid document
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/me/", "/api/v1/members/", "/api/v1/tokens/", "/api/v1/audit-events/export/"} <= set(doc["paths"])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "llmp_<key_id>.<secret>",
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    # Path parameters are typed from the model (the schema view has no tenant to scope with).
    detail = doc["paths"]["/api/v1/tokens/{id}/"]["get"]["parameters"]
    assert next(p for p in detail if p["name"] == "id")["schema"]["type"] == "integer"


def test_swagger_ui_is_served_from_the_sidecar_not_a_cdn(db, client):
    resp = client.get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    assert not re.search(r"https?://(cdn\.|unpkg|cdnjs|fonts\.googleapis)", html)
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset


# -- request ids and JSON logs -------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(db, client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.x_Y")["X-Request-ID"] == "abc-123.x_Y"
    for unsafe in ("has space", "x" * 65, "<script>", ""):
        generated = client.get("/healthz", HTTP_X_REQUEST_ID=unsafe)["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated), (unsafe, generated)
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert first != second


def test_api_errors_carry_the_request_id(viewer_a, api):
    resp = api(user=viewer_a.user).get("/api/v1/me/", HTTP_X_REQUEST_ID="req-err-1")
    assert resp.status_code == 400 and resp.json()["request_id"] == "req-err-1"


@pytest.fixture
def json_log():
    """Capture root log records through the configured JSON handler's formatter and filters."""
    configured = next(
        h for h in logging.getLogger().handlers if isinstance(getattr(h, "formatter", None), JsonFormatter)
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured.formatter)
    for f in configured.filters:
        handler.addFilter(f)
    logging.getLogger().addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        logging.getLogger().removeHandler(handler)


def test_log_lines_are_json_with_the_request_id(viewer_a, client, api, json_log):
    client.force_login(viewer_a.user)
    client.get("/t/nope/", HTTP_X_REQUEST_ID="req-console-404")  # Http404 raised in a view
    api(user=viewer_a.user, tenant="nope").get("/api/v1/me/", HTTP_X_REQUEST_ID="req-api-404")  # DRF 404
    lines = json_log()
    by_path = {line["message"]: line for line in lines if line["logger"] == "django.request"}
    assert by_path["Not Found: /t/nope/"]["request_id"] == "req-console-404"
    assert by_path["Not Found: /api/v1/me/"]["request_id"] == "req-api-404"
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    assert by_path["Not Found: /t/nope/"]["level"] == "WARNING"


def test_log_lines_outside_requests_have_an_empty_request_id(json_log):
    logging.getLogger("portal.test").warning("background work")
    line = json_log()[-1]
    assert line["message"] == "background work" and line["request_id"] == ""


# -- production settings -----------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_env(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TOKEN_HMAC", "PORTAL_"))},
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "TOKEN_HMAC_KEY": secrets.token_urlsafe(32),
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SESSION_COOKIE_SECURE": "true",
        "DJANGO_CSRF_COOKIE_SECURE": "true",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "DJANGO_SECURE_HSTS_PRELOAD": "true",
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues" in proc.stdout


def test_check_deploy_flags_insecure_defaults(tmp_path):
    """The same check is not vacuous: without the production env values it fails."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TOKEN_HMAC", "PORTAL_"))},
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "TOKEN_HMAC_KEY": secrets.token_urlsafe(32),
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "security.W004" in proc.stderr and "security.W008" in proc.stderr


# -- manage.py create_tenant -----------------------------------------------------------------------


def test_create_tenant_prints_working_credentials(db, capsys, client):
    call_command("create_tenant", "--slug", "initech", "--name", "Initech", "--owner-email", "Boss@Initech.test")
    out = capsys.readouterr().out
    assert "Created tenant 'initech' with owner boss@initech.test" in out
    password = re.search(r"Owner login: boss@initech\.test / (\S+)", out)[1]
    tenant = Tenant.objects.get(slug="initech")
    owner = Membership.objects.for_tenant(tenant).get()
    assert owner.role == "owner" and owner.user.email == "boss@initech.test"
    assert client.login(username="boss@initech.test", password=password)
    assert client.get("/t/initech/").status_code == 200
    assert AuditEvent.objects.for_tenant(tenant).filter(action="tenants.tenant.created").exists()


def test_create_tenant_reuses_an_existing_owner_without_printing_a_password(owner_a, capsys):
    call_command("create_tenant", "--slug", "second", "--name", "Second", "--owner-email", "owner@acme.test")
    out = capsys.readouterr().out
    assert "Created tenant 'second'" in out and "Owner login" not in out
    assert get_user_model().objects.filter(email="owner@acme.test").count() == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [("Not A Slug!", "slug: Enter a valid “slug”"), ("acme", "slug: Tenant with this Slug already exists")],
)
def test_create_tenant_rejects_bad_slugs_clearly(tenant_a, slug, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("create_tenant", "--slug", slug, "--name", "X", "--owner-email", "x@x.test")
    assert Tenant.objects.count() == 1
    # The owner it would have created is not left behind (with a password nobody was shown).
    assert not get_user_model().objects.filter(email="x@x.test").exists()
