"""Cross-tenant coverage (tests/support/api_mixins) for every Q&A route and model."""

from __future__ import annotations

import pytest

from qa.models import Conversation, QaFeedback, QaRecord
from tests.support.api_mixins import CrossTenantAPITests

pytestmark = pytest.mark.usefixtures("qa_settings")


def _record(tenant, membership, *, shared: bool = False) -> QaRecord:
    conv = Conversation.objects.create(
        tenant=tenant, title=f"conv of {tenant.slug}", created_by=membership.user, shared=shared
    )
    return QaRecord.objects.create(
        tenant=tenant,
        conversation=conv,
        question=f"question of {tenant.slug}",
        answer="I could not find this in your documents.",
        asked_by=membership.user,
    )


class TestQaAPI(CrossTenantAPITests):
    list_url = "api:qa-list"
    detail_url = "api:qa-detail"
    covers_routes = ["api:qa-list", "api:qa-detail"]
    model = QaRecord
    write = ("post", "api:qa-list", None, {"question": "What is in my documents?"})
    # Viewer is the lowest role and may ask (qa.ask), so no role is too low to write here; the
    # read-only token test still runs.
    test_role_too_low_gets_403 = None  # type: ignore[assignment]

    def make_object(self, tenant, membership):
        return _record(tenant, membership)


class TestQaFeedbackAPI(CrossTenantAPITests):
    detail_url = "api:qa-feedback"
    covers_routes = ["api:qa-feedback"]
    model = QaFeedback
    write = ("post", "api:qa-feedback", lambda ctx: {"pk": ctx["obj_a"].pk}, {"rating": "up"})
    test_role_too_low_gets_403 = None  # type: ignore[assignment]  # viewers may give feedback

    def make_object(self, tenant, membership):
        rec = _record(tenant, membership)
        QaFeedback.objects.create(tenant=tenant, record=rec, rating=1, created_by=membership.user)
        return rec


class TestConversationAPI(CrossTenantAPITests):
    list_url = "api:conversation-list"
    detail_url = "api:conversation-detail"
    covers_routes = [
        "api:conversation-list",
        "api:conversation-detail",
        "api:conversation-share",
        "api:conversation-export",
    ]
    model = Conversation
    write = ("post", "api:conversation-share", lambda ctx: {"pk": ctx["obj_a"].pk}, {"shared": True})
    test_role_too_low_gets_403 = None  # type: ignore[assignment]  # viewers may share their own

    def make_object(self, tenant, membership):
        return _record(tenant, membership).conversation

    def test_export_of_other_tenant_is_404(self, two_tenants, api):
        client = api(two_tenants["token_a"])
        for fmt in ("md", "json"):
            other = client.get(f"/api/v1/conversations/{two_tenants['obj_b'].pk}/export/?fmt={fmt}")
            assert other.status_code == 404, other.content
            own = client.get(f"/api/v1/conversations/{two_tenants['obj_a'].pk}/export/?fmt={fmt}")
            assert own.status_code == 200
            assert b"xt-b" not in own.content

    def test_delete_of_other_tenant_is_404_and_keeps_it(self, two_tenants, api):
        resp = api(two_tenants["token_a"]).delete(f"/api/v1/conversations/{two_tenants['obj_b'].pk}/")
        assert resp.status_code == 404
        assert Conversation.objects.for_tenant(two_tenants["tb"]).filter(pk=two_tenants["obj_b"].pk).exists()
