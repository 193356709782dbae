"""deploy/observability/: promtool checks and unit tests of the alert rules, every query of the
rules and Grafana dashboards names a metric a live /metrics exports, and a real Prometheus
scrapes a live portal and answers a PromQL query with the expected series."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from documents.services import document_upload
from documents.tasks import document_ingest_task
from portal import metrics
from tenants.actors import Actor
from tests.observability.promql import metric_names
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "observability"
ALERTS = ROOT / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "prometheus" / "rules_test.yml"
DASHBOARDS = sorted((ROOT / "grafana").glob("*.json"))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
# Grafana template variables -> a value that keeps the expression valid PromQL.
VARIABLES = {"$tenant": "acme", "${tenant}": "acme"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        raise RuntimeError("promtool not found: run scripts/install_test_deps.sh (Debian package prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [(rule.get("alert") or rule["record"], rule["expr"]) for group in doc["groups"] for rule in group["rules"]]


def recorded_names() -> set[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return {rule["record"] for group in doc["groups"] for rule in group["rules"] if "record" in rule}


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for var, val in VARIABLES.items():
                    expr = expr.replace(var, val)
                found.append((f"{path.name}: {panel['title']}", expr))
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                inner = var["definition"].removeprefix("label_values(").rsplit(",", 1)[0]
                found.append((f"{path.name}: variable {var['name']}", inner))
    return found


def test_alert_rules_pass_promtool_check():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_alert_rules_unit_tests_pass_and_can_fail(tmp_path):
    result = promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    # The unit tests are not vacuous: a wrong expectation (Triton "down" after a 1-minute flap)
    # makes promtool fail.
    broken = RULES_TEST.read_text().replace(
        "        alertname: PortalTritonDown\n        exp_alerts: []",
        "        alertname: PortalTritonDown\n        exp_alerts:\n          - exp_labels: {severity: page, backend: triton}",
    )
    assert broken != RULES_TEST.read_text()
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text())
    (tmp_path / "rules_test.yml").write_text(broken)
    failed = promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert failed.returncode != 0 and "PortalTritonDown" in failed.stdout + failed.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path):
    exprs = dashboard_exprs()
    assert len(DASHBOARDS) == 3 and len(exprs) >= 20
    rules = {
        "groups": [
            {"name": "dashboards", "rules": [{"record": f"check:{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}
        ]
    }
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_name_extraction():
    assert metric_names(
        'sum by (feature, le) (rate(portal_x_bucket{feature="a b",le!~"1|2"}[5m])) / on (le) ignoring(x) foo:bar offset 5m'
    ) == {"portal_x_bucket", "foo:bar"}
    assert metric_names("count(up >= 0.8) or vector(0)") == {"up"}


def exercise_portal(api, token: str, tenant, editor) -> None:
    """Drive every instrumented path once so /metrics has a sample for each family."""
    api(token).post("/api/v1/recommendations/", {"user_id": "u1", "k": 3}, format="json")
    api(token).post("/api/v1/qa/", {"question": ""}, format="json")
    actor = Actor.for_user(editor.user, editor)
    doc = document_upload(tenant=tenant, actor=actor, file=SimpleUploadedFile("a.txt", b"Pumps need oil. " * 40))
    document_ingest_task(tenant_id=tenant.pk, document_id=doc.pk)
    # The quota gauge is set by the usage app's quota checks; here through the same function.
    metrics.set_quota_usage(tenant_slug=tenant.slug, quota="qa_requests_per_day", ratio=0.5)


@pytest.fixture
def redis_broker(settings) -> Iterator[None]:
    """A real Redis broker URL, so queue depth is exported (cached readings expired)."""
    settings.CELERY_BROKER_URL = "redis://localhost:6379/13"
    for collector in list(metrics.REGISTRY._collector_to_names):
        if isinstance(collector, metrics._CachedCollector):
            collector._at = 0.0
    yield
    for collector in list(metrics.REGISTRY._collector_to_names):
        if isinstance(collector, metrics._CachedCollector):
            collector._at = 0.0


@pytest.mark.django_db
def test_every_queried_metric_is_exported_by_a_live_metrics(
    api, make_token, admin_a, editor_a, tenant_a, ingest_env, redis_broker
):
    exercise_portal(api, make_token(admin_a, ["read", "recommend", "qa"]), tenant_a, editor_a)
    body = Client().get("/metrics").content.decode()
    exported = {s.name for family in text_string_to_metric_families(body) for s in family.samples}
    exported |= recorded_names()
    missing = {
        (where, name)
        for where, expr in rule_exprs() + dashboard_exprs()
        for name in metric_names(expr)
        if name not in exported
    }
    assert not missing, f"queried but not exported: {sorted(missing)}"
    # And the check can fail: a typo is caught.
    assert "portal_feature_request_total" not in exported


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def prometheus(live_server, tmp_path) -> Iterator[str]:
    """A real Prometheus (temp data dir, random port) scraping the live portal every second."""
    if not Path(PROMETHEUS).exists():
        raise RuntimeError("prometheus not found: run scripts/install_test_deps.sh (Debian package prometheus)")
    target = urllib.parse.urlparse(live_server.url).netloc
    port = free_port()
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "portal", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query_until(base: str, promql: str, timeout_s: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = _get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert answer["status"] == "success", answer
        if answer["data"]["result"] or time.monotonic() > deadline:
            return answer["data"]["result"]
        time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_real_prometheus_scrapes_the_portal(prometheus, live_server, api, make_token, admin_a, tenant_a):
    token = make_token(admin_a, ["read", "recommend", "qa"])
    for _ in range(3):
        api(token).post("/api/v1/recommendations/", {"user_id": "u1", "k": 3}, format="json")

    up = query_until(prometheus, 'up{job="portal"} == 1')
    assert [r["metric"]["job"] for r in up] == ["portal"]
    result = query_until(
        prometheus, 'sum by (tenant, outcome) (portal_feature_requests_total{feature="recommendations"})'
    )
    series = {(r["metric"]["tenant"], r["metric"]["outcome"]): float(r["value"][1]) for r in result}
    # No recommender is trained, so each call is a 409 (a client error), counted for acme.
    assert series[("acme", "client_error")] >= 3, series
    health = query_until(prometheus, 'portal_backend_up{backend="database"}')
    assert float(health[0]["value"][1]) == 1.0
    rules = _get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert "PortalMilvusDown" in loaded and "PortalTenantNearQuota" in loaded
