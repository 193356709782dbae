"""Console pages under /t/<slug>/deployments/."""

from __future__ import annotations

import pytest
from django.test import Client

from deploy.capacity.catalog import load_catalog
from deploy.models import CapacityPlan, KubeCluster, Rollout
from deploy.services import deployment_create, rollout_start
from tenants.actors import Actor
from tests.factories.deploy import model_version

pytestmark = pytest.mark.django_db
BASE = "/t/acme/deployments/"


def login(membership) -> Client:
    c = Client()
    c.force_login(membership.user)
    return c


def test_nav_and_list(admin_a):
    resp = login(admin_a).get(BASE)
    assert resp.status_code == 200
    assert b'href="/t/acme/deployments/"' in resp.content and b"Plan capacity" in resp.content


def test_plan_wizard_offers_every_catalog_use_case_and_gpu(admin_a):
    # The choices come from the capacity catalog, so a GPU added to gpus-v1.yaml shows up here.
    catalog = load_catalog()
    page = login(admin_a).get(f"{BASE}plan/").content.decode()
    for use_case in catalog.templates:
        assert f'<option value="{use_case}"' in page
    for gpu in catalog.gpus:
        assert f'name="allowed_gpus" value="{gpu}"' in page
    smallest = min(catalog.gpus.values(), key=lambda g: (g.memory_gb, g.name)).name
    assert page.index(f'value="{smallest}"') < page.index('value="H200"')


def test_plan_wizard_to_result_with_provenance(admin_a, tenant_a):
    c = login(admin_a)
    resp = c.post(
        f"{BASE}plan/",
        {
            "use_case": "chatbot",
            "load_kind": "users",
            "load_value": "20",
            "allowed_gpus": ["H100-SXM-80GB"],
            "percentile": "90",
        },
    )
    plan = CapacityPlan.objects.for_tenant(tenant_a).get()
    assert resp.status_code == 302 and resp["Location"] == f"{BASE}plans/{plan.pk}/"
    page = c.get(resp["Location"]).content.decode()
    primary = plan.result["recommended"]["primary"]
    assert "Recommended" in page and "Deploy this plan" in page
    times = "\u00d7"  # the multiplication sign the template uses
    assert f"{primary['replicas']} {times} {primary['gpus_per_replica']}{times} H100-SXM-80GB" in page
    assert any(p in page for p in ("benchmarked", "interpolated", "estimated"))
    assert "2026-07-gpus-1" in page  # data versions shown


def test_plan_wizard_shows_why_infeasible_and_400_on_bad_input(admin_a):
    c = login(admin_a)
    resp = c.post(
        f"{BASE}plan/",
        {"use_case": "chatbot", "load_kind": "users", "load_value": "8", "ttft_slo_ms": "1"},
        follow=True,
    )
    assert b"infeasible" in resp.content and b"TTFT SLO 1 ms is below the best achievable" in resp.content
    bad = c.post(f"{BASE}plan/", {"use_case": "chatbot", "load_kind": "users", "load_value": "0"})
    assert bad.status_code == 400 and b"concurrent_users must be a positive integer" in bad.content


def test_cluster_form_never_echoes_secrets(admin_a, tenant_a):
    c = login(admin_a)
    resp = c.post(
        f"{BASE}clusters/",
        {
            "name": "prod",
            "auth_kind": "token",
            "api_server": "https://k8s.acme.example:6443",
            "token": "tok-abcdef-123456",
            "verify_ssl": "on",
        },
        follow=True,
    )
    assert resp.status_code == 200 and b"credentials encrypted" in resp.content
    assert b"tok-abcdef-123456" not in resp.content
    assert KubeCluster.objects.for_tenant(tenant_a).filter(name="prod").exists()


def test_detail_rollout_button_events_and_yaml(admin_a, tenant_a, viewer_a, outsider):
    version = model_version(tenant_a, "echo", 1)
    d = deployment_create(
        tenant=tenant_a, actor=Actor.system(), name="svc", target="local", model_version_ids=[version.pk]
    )
    c = login(admin_a)
    page = c.get(f"{BASE}{d.pk}/")
    assert page.status_code == 200 and b"Roll out" in page.content and b"Never rolled out" in page.content
    c.post(f"{BASE}{d.pk}/", {"op": "rollout"})
    rollout = Rollout.objects.for_tenant(tenant_a).get()
    events = c.get(f"{BASE}{d.pk}/events/").content.decode()
    assert 'hx-trigger="every 2s"' in events and "queued" in events  # polls while in progress
    yaml_resp = c.get(f"{BASE}{d.pk}/manifests.yaml")
    assert yaml_resp["Content-Type"] == "application/yaml" and b"triton_name" in yaml_resp.content
    # a viewer sees the page but may not roll out; an outsider does not see it at all
    assert login(viewer_a).get(f"{BASE}{d.pk}/").status_code == 200
    assert login(viewer_a).post(f"{BASE}{d.pk}/", {"op": "rollout"}).status_code == 403
    other = Client()
    other.force_login(outsider)
    assert other.get(f"{BASE}{d.pk}/").status_code == 404
    assert rollout.state == "pending"
    # a second rollout while one is pending is refused with a message, not a crash
    resp = c.post(f"{BASE}{d.pk}/", {"op": "rollout"}, follow=True)
    assert b"already has rollout" in resp.content


def test_other_tenants_deployment_is_404_in_console(admin_a, tenant_b):
    theirs_v = model_version(tenant_b, "echo", 1)
    theirs = deployment_create(
        tenant=tenant_b, actor=Actor.system(), name="svc", target="local", model_version_ids=[theirs_v.pk]
    )
    rollout_start(tenant=tenant_b, actor=Actor.system(), deployment=theirs)
    assert login(admin_a).get(f"{BASE}{theirs.pk}/").status_code == 404
    assert login(admin_a).get(f"{BASE}{theirs.pk}/manifests.yaml").status_code == 404
