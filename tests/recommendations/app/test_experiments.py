from __future__ import annotations

import math
from collections import Counter

import pytest

from recommendations.abtest import EventRow, ExposureRow, attribute, bucket, wilson_interval
from recommendations.models import Experiment, Exposure, TrainingRun
from recommendations.services import events_ingest
from tenants.actors import Actor
from tenants.models import AuditEvent
from tests.recommendations.app.conftest import BASE_TS

VARIANTS = [{"name": "control", "weight": 70}, {"name": "treatment", "weight": 30}]


def test_bucketing_is_deterministic_and_follows_weights():
    users = [f"user-{n}" for n in range(20_000)]
    first = [bucket("exp-1", u, VARIANTS) for u in users]
    assert first == [bucket("exp-1", u, VARIANTS) for u in users]
    share = Counter(first)["control"] / len(users)
    assert abs(share - 0.7) < 0.015  # ~4.6 standard deviations at n=20,000
    # Another experiment key reshuffles users (independent assignments).
    other = [bucket("exp-2", u, VARIANTS) for u in users]
    agree = sum(a == b for a, b in zip(first, other, strict=True)) / len(users)
    assert abs(agree - (0.7**2 + 0.3**2)) < 0.02


def test_wilson_interval_hand_example():
    # 10 successes out of 100, z = 1.96: centre 0.1168, half-width 0.0619 (textbook value 0.0552..0.1744)
    lo, hi = wilson_interval(10, 100)
    assert math.isclose(lo, 0.05522, abs_tol=1e-4) and math.isclose(hi, 0.17437, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)
    lo0, hi0 = wilson_interval(0, 20)
    assert lo0 == 0.0 and math.isclose(hi0, 0.16113, abs_tol=1e-4)
    assert wilson_interval(5, 5)[1] == 1.0


def test_attribution_hand_example():
    exposures = [
        ExposureRow(1, "A", "u1", ("x", "y"), 100.0),
        ExposureRow(2, "A", "u1", ("x",), 200.0),
        ExposureRow(3, "B", "u2", ("x", "z"), 100.0),
        ExposureRow(4, "B", "u3", ("z",), 100.0),
    ]
    events = [
        EventRow("u1", "x", "click", 250.0),  # -> exposure 2 (latest before it containing x)
        EventRow("u1", "y", "click", 150.0),  # -> exposure 1
        EventRow("u1", "x", "purchase", 260.0),  # -> exposure 2
        EventRow("u2", "z", "click", 50.0),  # before any exposure: not attributed
        EventRow("u2", "x", "click", 100.0 + 3601),  # outside the 1 h window
        EventRow("u3", "z", "purchase", 3000.0),  # bought without clicking: conversion only
        EventRow("u3", "q", "click", 200.0),  # item was not recommended
        EventRow("u3", "z", "view", 200.0),  # views are neither clicks nor conversions
    ]
    res = {r.name: r.to_dict() for r in attribute(exposures, events, window_s=3600, variant_names=["A", "B"])}
    a, b = res["A"], res["B"]
    assert (a["exposures"], a["users"], a["clicks"], a["purchases"]) == (2, 1, 2, 1)
    assert a["ctr"] == 1.0 and a["conversion_rate"] == 0.5
    assert (b["exposures"], b["users"], b["clicks"], b["purchases"]) == (2, 2, 0, 1)
    assert b["ctr"] == 0.0 and b["conversion_rate"] == 0.5
    assert b["ctr_ci95"] == [0.0, pytest.approx(0.6576, abs=1e-4)]


@pytest.fixture
def two_runs(tenant_a, seed, trained):
    seed(tenant_a, n_users=80)
    return trained(tenant_a), trained(tenant_a, use_ease=False)


def test_experiment_lifecycle_exposures_results_and_winner(two_runs, tenant_a, api, make_token, owner_a):
    v1, v2 = two_runs
    admin = api(make_token(owner_a, ["write", "recommend"]))
    resp = admin.post(
        "/api/v1/experiments/",
        {
            "key": "home-1",
            "variants": [
                {"name": "current", "weight": 50, "run_id": v1.pk},
                {"name": "no-ease", "weight": 40, "run_id": v2.pk},
                {"name": "popular", "weight": 10, "strategy": "popularity"},
            ],
            "attribution_window_s": 3600,
        },
        format="json",
    )
    assert resp.status_code == 201, resp.content
    exp_id = resp.json()["id"]
    served: dict[str, dict] = {}
    for n in range(30):
        body = admin.post("/api/v1/recommendations/", {"user_id": f"user{n:03d}", "k": 3}, format="json").json()
        assert body["experiment"]["key"] == "home-1"
        variant = body["experiment"]["variant"]
        assert variant == bucket("home-1", f"user{n:03d}", resp.json()["variants"])
        expected_version = {"current": 1, "no-ease": 2, "popular": 1}[variant]
        assert body["model_version"]["version"] == expected_version
        if variant == "popular":
            assert body["model_version"]["strategy"] == "popularity"
            assert all(i["reasons"] == ["Trending now"] for i in body["items"])
        served[f"user{n:03d}"] = body
    assert Exposure.objects.for_tenant(tenant_a).filter(experiment_id=exp_id).count() == 30
    # One user of each variant clicks their first recommended item; nobody else does anything.
    clicked = {}
    for user, body in served.items():
        v = body["experiment"]["variant"]
        if v not in clicked and body["items"]:
            clicked[v] = user
            ts = Exposure.objects.for_tenant(tenant_a).get(request_id=body["request_id"]).created_at.timestamp() + 5
            events_ingest(
                tenant=tenant_a,
                actor=Actor.system(),
                rows=[{"user_id": user, "item_id": body["items"][0]["item_id"], "type": "click", "timestamp": ts}],
            )
    results = admin.get(f"/api/v1/experiments/{exp_id}/results/").json()
    by_name = {r["variant"]: r for r in results["variants"]}
    counts = Counter(b["experiment"]["variant"] for b in served.values())
    for name, row in by_name.items():
        assert row["exposures"] == counts[name]
        if name in clicked:
            assert row["clicks"] == 1 and math.isclose(row["ctr"], 1 / counts[name])
            lo, hi = row["ctr_ci95"]
            assert lo < row["ctr"] < hi
    # Stop and declare the no-ease variant the winner: its model becomes the active one.
    stop = admin.post(f"/api/v1/experiments/{exp_id}/stop/", {"winner": "no-ease"}, format="json")
    assert stop.status_code == 200 and stop.json()["status"] == "stopped" and stop.json()["winner"] == "no-ease"
    assert TrainingRun.objects.for_tenant(tenant_a).get(is_active=True) == v2
    after = admin.post("/api/v1/recommendations/", {"user_id": "user001"}, format="json").json()
    assert after["experiment"] is None and after["model_version"]["version"] == 2
    actions = set(AuditEvent.objects.for_tenant(tenant_a).values_list("action", flat=True))
    assert {
        "recommendations.experiment.started",
        "recommendations.experiment.stopped",
        "recommendations.trainingrun.activated",
    } <= actions
    again = admin.post(f"/api/v1/experiments/{exp_id}/stop/", {}, format="json")
    assert again.status_code == 409


def test_experiment_validation(two_runs, tenant_a, tenant_b, api, make_token, owner_a, trained):
    v1, _ = two_runs
    admin = api(make_token(owner_a, ["write"]))
    failed_b = trained(tenant_b)  # another tenant's run id must look like an unknown id
    cases = [
        ([{"name": "a", "run_id": v1.pk}], "between 2 and 10 variants"),
        ([{"name": "a", "run_id": v1.pk}, {"name": "a", "strategy": "popularity"}], "unique name"),
        ([{"name": "a", "run_id": v1.pk}, {"name": "b", "strategy": "random"}], "unknown strategy"),
        (
            [{"name": "a", "run_id": v1.pk}, {"name": "b", "run_id": failed_b.pk}],
            f"recommender {failed_b.pk} not found",
        ),
        (
            [{"name": "a", "run_id": v1.pk, "strategy": "popularity"}, {"name": "b", "strategy": "popularity"}],
            "exactly one of run_id",
        ),
        ([{"name": "a", "run_id": v1.pk, "weight": 0}, {"name": "b", "strategy": "popularity"}], "weight"),
    ]
    for variants, fragment in cases:
        resp = admin.post("/api/v1/experiments/", {"key": "k", "variants": variants}, format="json")
        assert resp.status_code == 400, (variants, resp.content)
        assert fragment in resp.json()["detail"], resp.json()
    ok = [{"name": "a", "run_id": v1.pk}, {"name": "b", "strategy": "popularity"}]
    assert admin.post("/api/v1/experiments/", {"key": "k1", "variants": ok}, format="json").status_code == 201
    second = admin.post("/api/v1/experiments/", {"key": "k2", "variants": ok}, format="json")
    assert second.status_code == 409 and "still running" in second.json()["detail"]
    assert Experiment.objects.for_tenant(tenant_a).count() == 1


def test_editor_cannot_manage_experiments(two_runs, api, make_token, editor_a):
    v1, _ = two_runs
    resp = api(make_token(editor_a, ["write"])).post(
        "/api/v1/experiments/",
        {"key": "k", "variants": [{"name": "a", "run_id": v1.pk}, {"name": "b", "strategy": "popularity"}]},
        format="json",
    )
    assert resp.status_code == 403


def test_events_before_exposure_are_not_attributed(two_runs, tenant_a, api, make_token, owner_a):
    v1, v2 = two_runs
    admin = api(make_token(owner_a, ["write", "recommend"]))
    exp_id = admin.post(
        "/api/v1/experiments/",
        {"key": "e", "variants": [{"name": "a", "run_id": v1.pk}, {"name": "b", "run_id": v2.pk}]},
        format="json",
    ).json()["id"]
    body = admin.post("/api/v1/recommendations/", {"user_id": "zed", "k": 1}, format="json").json()
    events_ingest(
        tenant=tenant_a,
        actor=Actor.system(),
        rows=[{"user_id": "zed", "item_id": body["items"][0]["item_id"], "type": "purchase", "timestamp": BASE_TS}],
    )
    res = admin.get(f"/api/v1/experiments/{exp_id}/results/").json()
    assert sum(r["exposures"] for r in res["variants"]) == 1
    assert sum(r["purchases"] for r in res["variants"]) == 0
