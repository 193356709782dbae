"""Fixtures for the deployments app: the Kubernetes API double (revision-aware), a stored cluster
pointing at it, registry versions, and the shared real tritonserver for the local target.

The double's Deployment controller is scripted per (namespace, name); a real cluster decides per
pod template (revision 2 with a bad image never gets ready while revision 1 does). The subclass
below picks the double's plan from the live pod template's revision label, so rollbacks in these
tests behave as they would on a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from deploy.k8s.manifests import REVISION_LABEL
from deploy.models import KubeCluster
from deploy.services import cluster_create
from tenants.actors import Actor
from tests.support.k8s_double import KubeApiDouble, RolloutPlan
from tests.support.triton import FIXTURES

NAMESPACE = "team-a"
ECHO_PY = FIXTURES / "echo" / "model.py"
FAILING_PY = FIXTURES / "failing_init" / "model.py"


@dataclass
class RevisionAwareDouble(KubeApiDouble):
    """`plans_by_revision[str(n)]` scripts how pods of portal revision n behave (default: ready)."""

    plans_by_revision: dict[str, RolloutPlan] = field(default_factory=dict)

    def _controller_poll(self, namespace: str, name: str):  # type: ignore[no-untyped-def]
        live = self.get("Deployment", namespace, name) or {}
        labels = live.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        plan = self.plans_by_revision.get(labels.get(REVISION_LABEL, ""))
        if plan is not None:
            self.plans[(namespace, name)] = plan
        else:
            self.plans.pop((namespace, name), None)
        return super()._controller_poll(namespace, name)


@pytest.fixture
def k8s(settings) -> Iterator[RevisionAwareDouble]:
    # The double serves plain http on 127.0.0.1: allow-listed as an operator would for a test
    # double (the default refuses it: tests/deploy/app/test_cluster_egress.py).
    settings.DEPLOY_KUBE_EGRESS_ALLOW = ["127.0.0.1/32"]
    settings.DEPLOY_KUBE_POLL_S = 0.01
    settings.DEPLOY_KUBE_REQUEST_TIMEOUT = (2.0, 5.0)
    with RevisionAwareDouble() as double:
        double.create_namespace(NAMESPACE)
        yield double


@pytest.fixture
def cluster_a(k8s, tenant_a, admin_a) -> KubeCluster:
    return cluster_create(
        tenant=tenant_a,
        actor=Actor.system(),
        name="kind-a",
        api_server=k8s.url,
        token=k8s.token,
        default_namespace=NAMESPACE,
    )
