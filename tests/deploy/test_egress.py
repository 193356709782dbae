"""The egress rule for tenant Kubernetes API servers (deploy/k8s/egress.py), without a database."""

from __future__ import annotations

import pytest

from deploy.k8s.client import KubeTarget
from deploy.k8s.egress import EgressPolicy, EgressRefused


def test_default_policy_is_public_https_only() -> None:
    policy = EgressPolicy()
    for url in ("https://127.0.0.1", "https://localhost", "https://[::ffff:10.0.0.1]", "http://8.8.8.8"):
        with pytest.raises(EgressRefused):
            policy.check_url(url)
    assert policy.check_url("https://8.8.8.8:6443/") == "https://8.8.8.8:6443"
    # A name that does not resolve yet is left to the connection-time check...
    assert policy.check_url("https://k8s.acme.example:6443") == "https://k8s.acme.example:6443"
    # ...which refuses it then.
    with pytest.raises(EgressRefused, match="does not resolve"):
        policy.pick_address("k8s.acme.example", 6443)


def test_allow_list_by_network_and_by_exact_host_name() -> None:
    by_net = EgressPolicy.parse(["10.0.0.0/8", " ", "127.0.0.1"])
    assert by_net.check_url("https://10.1.2.3:6443") == "https://10.1.2.3:6443"
    assert by_net.pick_address("127.0.0.1", 80, scheme="http") == "127.0.0.1"
    with pytest.raises(EgressRefused, match="use https://"):
        by_net.check_url("http://10.1.2.3:6443")  # plain http only to loopback
    with pytest.raises(EgressRefused):
        by_net.check_url("https://192.168.0.1")
    by_name = EgressPolicy.parse(["LOCALHOST."])
    assert by_name.pick_address("localhost", 443) in ("127.0.0.1", "::1")
    with pytest.raises(EgressRefused):
        by_name.pick_address("127.0.0.1", 443)  # the name is trusted, not its address for others


def test_clients_get_the_strict_policy_unless_given_one() -> None:
    with pytest.raises(ValueError, match="non-public address"):
        KubeTarget.from_credentials(host="https://127.0.0.1:6443", token="t")
    target = KubeTarget.from_credentials(
        host="https://127.0.0.1:6443", token="t", egress=EgressPolicy.parse(["127.0.0.1"])
    )
    assert target.api.configuration.proxy is None
    target.close()
