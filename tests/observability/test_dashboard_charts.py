"""The tenant dashboard's charts: built from database rows, accessible SVG, data visible in a
real headless Chromium (screenshot pixel count), and a clear "no data yet" state."""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client

from tenants.console.charts import Bar, Series, bar_chart, line_chart, nice_max, percentile
from tests.observability.seed import HOURS, seed_dashboard

CHARTS = (
    "chart-qa-latency",
    "chart-ingestion",
    "chart-recs-ctr",
    "chart-requests",
    "chart-latency-recommendations",
    "chart-latency-qa",
    "chart-errors",
    "chart-cost",
)


def _client(membership) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(membership.user)
    return client


def figure(html: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{chart_id}".*?</figure>', html, re.S)
    assert match, f"{chart_id} missing"
    return match.group(0)


def test_chart_helpers():
    assert [nice_max(v) for v in (0, 0.7, 3, 240, 1000)] == [1.0, 1.0, 5.0, 250.0, 1000.0]
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == 10 and percentile([5.0], 0.5) == 5.0
    from datetime import UTC, datetime

    chart = line_chart(
        chart_id="c",
        title="<script>x</script>",
        series=[Series("a&b", [(datetime(2026, 1, 1, h, tzinfo=UTC), float(h)) for h in range(3)])],
        y_label="y",
    )
    assert chart.points == 3 and "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    assert bar_chart(chart_id="b", title="t", bars=[], y_label="y").points == 0
    assert "No data yet" in bar_chart(chart_id="b", title="t", bars=[], y_label="y").svg
    assert bar_chart(chart_id="b", title="t", bars=[Bar("x", 0.2, 0.1, 0.3)], y_label="y", unit="%").points == 1


@pytest.mark.django_db
def test_dashboard_charts_come_from_the_tenants_rows(viewer_a, tenant_a, owner_b, tenant_b):
    seed_dashboard(tenant_a)
    html = _client(viewer_a).get("/t/acme/").content.decode()
    qa = figure(html, "chart-qa-latency")
    assert qa.count('<circle class="point"') == 2 * HOURS and qa.count('<path class="series"') == 2
    assert 'role="img"' in qa and "<title" in qa and "p95" in qa and "answer time" in qa
    # Hour h has latencies 200..600 + 10h: p50 = 400 + 10h, p95 = 600 + 10h (nearest rank).
    assert "p50: 400 ms at" in qa and f"p95: {600 + 10 * (HOURS - 1)} ms at" in qa
    ingestion = figure(html, "chart-ingestion")
    assert "in the queue now: 3" in ingestion and "ingested: 2 at" in ingestion
    ctr = figure(html, "chart-recs-ctr")
    assert ctr.count('class="bar point"') == 2 and "control: 25.0%" in ctr and "v2: 50.0%" in ctr
    # The other tenant sees none of it.
    other = _client(owner_b).get("/t/globex/").content.decode()
    for chart_id in CHARTS:
        assert 'class="point"' not in figure(other, chart_id) and "ranker-v2" not in other
    assert "No data yet" in figure(other, "chart-qa-latency") and "No experiment yet" in figure(other, "chart-recs-ctr")


COUNT_INK = """async (png) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  // "Ink" = coloured pixels (series colours), not the white background, grey grid or black text.
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) ink++;
  }
  return {ink, total: img.width * img.height};
}"""


def ink(page, chart_id: str) -> float:  # type: ignore[no-untyped-def]
    shot = page.locator(f"#{chart_id} svg").screenshot()
    result = page.evaluate(COUNT_INK, base64.b64encode(shot).decode())
    return result["ink"] / result["total"]


def _login(page, live_server, membership) -> None:  # type: ignore[no-untyped-def]
    client = _client(membership)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_browser_charts_have_data_and_empty_tenant_says_so(live_server, page, viewer_a, tenant_a, owner_b):
    seed_dashboard(tenant_a)
    _login(page, live_server, viewer_a)
    page.goto(f"{live_server.url}/t/acme/")
    assert page.locator("#chart-qa-latency circle.point").count() == 2 * HOURS
    assert page.locator("#chart-qa-latency path.series").count() == 2
    assert page.locator("#chart-recs-ctr rect.bar").count() == 2
    for feature in ("qa", "recommendations"):
        assert page.locator(f"#chart-latency-{feature} path.series").count() == 2  # p50 and p95
        assert page.locator(f"#chart-latency-{feature} circle.point").count() == 2 * HOURS
    assert page.locator("#chart-requests path.series").count() == 2
    for chart_id in CHARTS:
        box = page.locator(f"#{chart_id} svg").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, (chart_id, box)
        assert ink(page, chart_id) > 0.004, chart_id  # lines, points or bars were drawn

    page.context.clear_cookies()
    _login(page, live_server, owner_b)
    page.goto(f"{live_server.url}/t/globex/")
    assert page.locator("#chart-qa-latency .chart-empty").text_content() == "No data yet"
    assert page.locator("#chart-ingestion .chart-empty").text_content() == "No data yet"
    assert page.locator("svg circle.point, svg rect.bar").count() == 0
    for chart_id in CHARTS:
        assert ink(page, chart_id) < 0.0005, chart_id  # an empty chart draws no data ink
