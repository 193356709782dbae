"""Console pages through Django's test client: rendering, forms, permissions."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from recommendations.models import CatalogItem, Experiment, TrainingRun


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_experiment_pages_create_show_results_and_declare_winner(tenant_a, owner_a, seed, trained):
    seed(tenant_a, n_users=60)
    v1, v2 = trained(tenant_a), trained(tenant_a, use_ease=False)
    client = _client(owner_a)
    url = "/t/acme/recommendations/experiments/"
    resp = client.post(
        url,
        {
            "op": "create",
            "key": "console-exp",
            "name_a": "control",
            "variant_a": str(v1.pk),
            "weight_a": "50",
            "name_b": "popular",
            "variant_b": "popularity",
            "weight_b": "50",
        },
    )
    assert resp.status_code == 302
    exp = Experiment.objects.for_tenant(tenant_a).get(key="console-exp")
    assert [v["name"] for v in exp.variants] == ["control", "popular"]
    page = client.get(url).content.decode()
    assert "console-exp" in page and "model v1" in page and "Declare winner" in page
    client.post(url, {"op": "stop", "experiment_id": exp.pk, "winner": "control"})
    exp.refresh_from_db()
    assert exp.status == "stopped" and exp.winner == "control"
    assert TrainingRun.objects.for_tenant(tenant_a).get(is_active=True) == v1
    bad = client.post(
        url, {"op": "create", "key": "bad key!", "variant_a": str(v2.pk), "variant_b": "popularity"}, follow=True
    )
    assert "consisting of letters, numbers, underscores or hyphens" in bad.content.decode()
    assert Experiment.objects.for_tenant(tenant_a).count() == 1


def test_viewer_can_browse_but_not_import_or_train(tenant_a, viewer_a):
    client = _client(viewer_a)
    assert client.get("/t/acme/recommendations/").status_code == 200
    assert client.get("/t/acme/recommendations/events/").status_code == 200
    upload = SimpleUploadedFile("c.csv", b"external_id,title\na,A\n")
    assert client.post("/t/acme/recommendations/", {"file": upload}).status_code == 403
    assert client.post("/t/acme/recommendations/training/", {"op": "train"}).status_code == 403
    assert CatalogItem.objects.for_tenant(tenant_a).count() == 0


def test_import_errors_are_shown_and_try_it_explains_problems(tenant_a, owner_a):
    client = _client(owner_a)
    upload = SimpleUploadedFile("c.json", b'[{"external_id": "a", "title": "A"}, {"external_id": "b"}]')
    page = client.post("/t/acme/recommendations/", {"file": upload}).content.decode()
    assert "1 created, 0 updated, 1 rejected" in page and "title is required" in page
    broken = client.post("/t/acme/recommendations/", {"file": SimpleUploadedFile("c.json", b"[{")})
    assert broken.status_code == 400 and "not valid JSON" in broken.content.decode()
    tried = client.get("/t/acme/recommendations/try/", {"user_id": "u1"}).content.decode()
    assert "No recommender is active" in tried


def test_other_tenants_console_is_404(tenant_b, owner_a):
    assert _client(owner_a).get("/t/globex/recommendations/").status_code == 404
