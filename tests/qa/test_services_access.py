"""The Q&A services check access themselves (not only the API base): a refused actor changes
nothing and the refusal is audited."""

from __future__ import annotations

import pytest

from portal.exceptions import PermissionDenied
from qa.models import Conversation, QaFeedback, QaRecord
from qa.services.ask import qa_prepare
from qa.services.conversations import conversation_delete, conversation_share
from qa.services.feedback import qa_feedback_create
from tenants.actors import Actor
from tenants.models import AuditEvent
from tenants.services import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_only(tenant_a, owner_a) -> Actor:
    """The owner of the conversation below, through a token without the ``qa`` scope."""
    issued = token_create(
        tenant=tenant_a, actor=Actor.system(label="test"), membership=owner_a, name="ro", scopes=["read"]
    )
    return Actor.for_token(issued.token)


@pytest.fixture
def record(tenant_a, owner_a) -> QaRecord:
    conv = Conversation.objects.create(tenant=tenant_a, title="mine", created_by=owner_a.user)
    return QaRecord.objects.create(tenant=tenant_a, conversation=conv, question="q?", asked_by=owner_a.user)


def _denials(tenant) -> int:  # type: ignore[no-untyped-def]
    return AuditEvent.objects.for_tenant(tenant).filter(action="tenants.permission.denied").count()


def test_read_only_token_cannot_ask_share_delete_or_rate(tenant_a, read_only, record):
    conv = record.conversation
    calls = [
        lambda: qa_prepare(tenant=tenant_a, actor=read_only, question="Who signed the DMCA?"),
        lambda: conversation_share(tenant=tenant_a, actor=read_only, conversation=conv, shared=True),
        lambda: qa_feedback_create(tenant=tenant_a, actor=read_only, record=record, rating=1),
        lambda: conversation_delete(tenant=tenant_a, actor=read_only, conversation=conv),
    ]
    for i, call in enumerate(calls, start=1):
        with pytest.raises(PermissionDenied, match=r"scopes do not allow 'qa\.ask'"):
            call()
        assert _denials(tenant_a) == i
    conv.refresh_from_db()
    assert conv.shared is False and not QaFeedback.objects.for_tenant(tenant_a).exists()
    assert QaRecord.objects.for_tenant(tenant_a).count() == 1


def test_a_member_of_another_tenant_cannot_ask_here(tenant_a, owner_b):
    with pytest.raises(PermissionDenied):
        qa_prepare(tenant=tenant_a, actor=Actor.for_user(owner_b.user, None), question="Who signed it?")
    assert _denials(tenant_a) == 1


def test_the_creator_with_qa_scope_shares_and_rates(tenant_a, owner_a, record):
    actor = Actor.for_user(owner_a.user, owner_a)
    assert conversation_share(tenant=tenant_a, actor=actor, conversation=record.conversation, shared=True).shared
    fb = qa_feedback_create(tenant=tenant_a, actor=actor, record=record, rating=-1, comment="  vague ")
    assert (fb.rating, fb.comment, fb.created_by) == (-1, "vague", owner_a.user)
    assert _denials(tenant_a) == 0
