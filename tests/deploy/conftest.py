"""Fixtures for the Kubernetes client tests: the API double by default, a real cluster on demand.

Set PORTAL_K8S_TEST_KUBECONFIG=/path/to/kubeconfig (e.g. a kind cluster) to run the same tests
against a real API server: each test then gets a fresh namespace, deleted afterwards. Tests that
need the double's controls (rollout plans, request log, extra tokens) are skipped there, with
the reason shown.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.k8s.client import KubeTarget
from deploy.k8s.egress import EgressPolicy
from tests.support.k8s_double import KubeApiDouble, RolloutPlan
from tests.support.triton import triton, triton_minilm  # noqa: F401  (shared real-tritonserver fixtures)

KUBECONFIG_ENV = "PORTAL_K8S_TEST_KUBECONFIG"
REAL_CLUSTER = bool(os.environ.get(KUBECONFIG_ENV))
# The double listens on 127.0.0.1 (plain http); a real test cluster (kind) on a private address.
# Both are allow-listed here, as an operator would; tests of the default rule pass no policy.
TEST_EGRESS = EgressPolicy.parse(["127.0.0.0/8", "::1/128"] + (["0.0.0.0/0", "::/0"] if REAL_CLUSTER else []))


@dataclass
class Cluster:
    """What a client test needs, whichever API server is behind it."""

    target: KubeTarget
    namespace: str
    double: KubeApiDouble | None

    def plan(self, name: str, plan: RolloutPlan) -> None:
        """Script the double's Deployment controller; a real cluster's controller runs for real."""
        if self.double is not None:
            self.double.set_plan(self.namespace, name, plan)

    def target_with_token(self, token: str) -> KubeTarget:
        config = self.target.api.configuration
        return KubeTarget.from_credentials(
            host=config.host,
            token=token,
            ca_cert_pem=config.ca_cert_data,
            verify_ssl=config.verify_ssl,
            egress=TEST_EGRESS,
        )

    @property
    def double_or_skip(self) -> KubeApiDouble:
        if self.double is None:
            pytest.skip("needs the API double's controls; not available against a real cluster")
        return self.double


def namespace_obj(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    kubeconfig = os.environ.get(KUBECONFIG_ENV)
    if kubeconfig:
        target = KubeTarget.from_credentials(kubeconfig=Path(kubeconfig).read_text(), egress=TEST_EGRESS)
        namespace = f"portal-test-{secrets.token_hex(4)}"
        target.apply([namespace_obj(namespace)])
        try:
            yield Cluster(target, namespace, None)
        finally:
            target.delete([namespace_obj(namespace)])
            target.close()
        return
    with KubeApiDouble() as double:
        double.create_namespace("tenant-a")
        target = KubeTarget.from_credentials(host=double.url, token=double.token, egress=TEST_EGRESS)
        try:
            yield Cluster(target, "tenant-a", double)
        finally:
            target.close()
        assert double.internal_errors == [], "the API double crashed; see the log above"
