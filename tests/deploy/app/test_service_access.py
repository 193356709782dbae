"""Deploy services check access themselves (tenants.access): a direct call by a member whose role
is too low is refused, changes nothing, and the refusal is audited."""

from __future__ import annotations

import pytest

from deploy.models import CapacityPlan, KubeCluster
from deploy.services import capacity_plan_create, cluster_create
from portal.exceptions import PermissionDenied
from tenants.actors import Actor
from tenants.models import AuditEvent


def _last_denial(tenant):
    return AuditEvent.objects.for_tenant(tenant).filter(action="tenants.permission.denied").latest("seq")


def test_a_viewer_cannot_create_a_plan_by_calling_the_service(viewer_a, tenant_a):
    with pytest.raises(PermissionDenied, match=r"Your role \(viewer\) does not allow 'deploy.plan'"):
        capacity_plan_create(
            tenant=tenant_a, actor=Actor.for_user(viewer_a.user, viewer_a), inputs={"use_case": "chatbot"}
        )
    assert not CapacityPlan.objects.for_tenant(tenant_a).exists()
    assert _last_denial(tenant_a).changes["reason"] == "missing capability 'deploy.plan'"


def test_an_editor_cannot_register_a_cluster_by_calling_the_service(editor_a, tenant_a):
    with pytest.raises(PermissionDenied, match=r"Your role \(editor\) does not allow 'deploy.manage'"):
        cluster_create(
            tenant=tenant_a,
            actor=Actor.for_user(editor_a.user, editor_a),
            name="sneaky",
            api_server="https://127.0.0.1:1",
            token="t",
        )
    assert not KubeCluster.objects.for_tenant(tenant_a).exists()
    assert _last_denial(tenant_a).actor == editor_a.user
