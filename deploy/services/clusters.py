"""Kubernetes clusters a tenant deploys to, with credentials encrypted at rest.

Invariants: plaintext credentials exist only in the arguments of `cluster_create` /
`cluster_set_credentials` and inside `kube_target_for` (decrypted per use, never cached, never
logged, never audited, never serialised). Audit records say *that* credentials changed.

Egress: the API server URL (typed, or a kubeconfig's) must pass `egress_policy()` when saved
(400) and on every connection (`deploy.k8s.egress`): https to public addresses, unless the
operator allow-listed a network or host in DEPLOY_KUBE_EGRESS_ALLOW. A failed check records a
sentence with the status code, never the body that answered.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deploy.crypto import SecretDecryptError, decrypt_secret, encrypt_secret
from deploy.k8s.client import KubeError, KubeTarget, kubeconfig_server
from deploy.k8s.egress import EgressPolicy, EgressRefused
from deploy.models import Deployment, KubeCluster
from portal.exceptions import ApplicationError, Conflict
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record

logger = logging.getLogger(__name__)


class ClusterCredentialsInvalid(ApplicationError):
    code = "invalid_credentials"


def egress_policy() -> EgressPolicy:
    """Where tenant clusters may be reached: public https, plus the operator's allow-list."""
    return EgressPolicy.parse(getattr(settings, "DEPLOY_KUBE_EGRESS_ALLOW", []) or [])


def _check_server(url: str, field: str) -> str:
    try:
        return egress_policy().check_url(url, resolve=True)
    except EgressRefused as exc:
        raise ClusterCredentialsInvalid(f"{field}: {exc}.", extra={"field": field}) from None


def _credentials_blob(
    *, auth_kind: str, api_server: str, token: str, ca_cert_pem: str, kubeconfig: str, context: str
) -> tuple[str, str]:
    """(encrypted credentials, the API server URL to store); ClusterCredentialsInvalid (400)."""
    if auth_kind == KubeCluster.AuthKind.KUBECONFIG:
        if not kubeconfig.strip():
            raise ClusterCredentialsInvalid("kubeconfig: paste the kubeconfig text.", extra={"field": "kubeconfig"})
        try:
            server = kubeconfig_server(kubeconfig, context or None)
        except ValueError as exc:
            raise ClusterCredentialsInvalid(f"kubeconfig: {exc}", extra={"field": "kubeconfig"}) from None
        _check_server(server, "kubeconfig")
        return encrypt_secret(json.dumps({"kubeconfig": kubeconfig, "context": context or None})), ""
    if not api_server.strip():
        raise ClusterCredentialsInvalid("api_server: the API server URL is required.", extra={"field": "api_server"})
    url = _check_server(api_server, "api_server")
    if not token.strip():
        raise ClusterCredentialsInvalid("token: a bearer token is required.", extra={"field": "token"})
    return encrypt_secret(json.dumps({"token": token.strip(), "ca_cert_pem": ca_cert_pem or None})), url


def cluster_create(
    *,
    tenant: Tenant,
    actor: Actor,
    name: str,
    auth_kind: str = KubeCluster.AuthKind.TOKEN,
    api_server: str = "",
    token: str = "",
    ca_cert_pem: str = "",
    kubeconfig: str = "",
    context: str = "",
    verify_ssl: bool = True,
    k8s_version: str = "1.31",
    default_namespace: str = "",
) -> KubeCluster:
    access_require(tenant=tenant, actor=actor, capability="deploy.manage")
    blob, api_server = _credentials_blob(
        auth_kind=auth_kind,
        api_server=api_server,
        token=token,
        ca_cert_pem=ca_cert_pem,
        kubeconfig=kubeconfig,
        context=context,
    )
    with transaction.atomic():
        cluster = KubeCluster(
            tenant=tenant,
            name=name,
            auth_kind=auth_kind,
            api_server=api_server.strip(),
            credentials_encrypted=blob,
            verify_ssl=verify_ssl,
            k8s_version=k8s_version,
            default_namespace=default_namespace,
            created_by=actor.user if actor.user else None,
        )
        cluster.full_clean()
        cluster.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.kubecluster.created",
            target=cluster,
            changes={
                "name": [None, name],
                "api_server": [None, cluster.api_server],
                "auth_kind": [None, auth_kind],
                "credentials": [None, "set"],
            },
        )
    return cluster


def cluster_set_credentials(
    *,
    tenant: Tenant,
    actor: Actor,
    cluster: KubeCluster,
    auth_kind: str,
    api_server: str = "",
    token: str = "",
    ca_cert_pem: str = "",
    kubeconfig: str = "",
    context: str = "",
) -> KubeCluster:
    """Replace the credentials (rotation). The old ones are gone afterwards."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=cluster)
    blob, api_server = _credentials_blob(
        auth_kind=auth_kind,
        api_server=api_server,
        token=token,
        ca_cert_pem=ca_cert_pem,
        kubeconfig=kubeconfig,
        context=context,
    )
    with transaction.atomic():
        before = cluster.api_server
        cluster.auth_kind, cluster.api_server, cluster.credentials_encrypted = auth_kind, api_server.strip(), blob
        cluster.last_check_ok, cluster.last_check_error = None, ""
        cluster.full_clean()
        cluster.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.kubecluster.credentials_changed",
            target=cluster,
            changes={"api_server": [before, cluster.api_server], "credentials": ["set", "replaced"]},
        )
    return cluster


def cluster_delete(*, tenant: Tenant, actor: Actor, cluster: KubeCluster) -> None:
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=cluster)
    with transaction.atomic():
        if Deployment.objects.for_tenant(tenant).filter(cluster=cluster).exists():
            raise Conflict(f"Cluster {cluster.name} is used by deployments; move or delete them first.")
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.kubecluster.deleted",
            target=cluster,
            changes={"name": [cluster.name, None]},
        )
        cluster.delete()


def cluster_credentials(cluster: KubeCluster) -> dict[str, Any]:
    """Decrypted credentials (internal use only). Raises ClusterCredentialsInvalid."""
    try:
        return dict(json.loads(decrypt_secret(cluster.credentials_encrypted)))
    except SecretDecryptError as exc:
        raise ClusterCredentialsInvalid(str(exc)) from exc


def kube_target_for(cluster: KubeCluster) -> KubeTarget:
    """A Kubernetes client for the cluster; raises ClusterCredentialsInvalid."""
    creds = cluster_credentials(cluster)
    timeout = getattr(settings, "DEPLOY_KUBE_REQUEST_TIMEOUT", (5.0, 30.0))
    egress = egress_policy()
    try:
        if "kubeconfig" in creds:
            return KubeTarget.from_credentials(
                kubeconfig=creds["kubeconfig"],
                context=creds.get("context"),
                k8s_version=cluster.k8s_version,
                request_timeout=timeout,
                egress=egress,
            )
        return KubeTarget.from_credentials(
            host=cluster.api_server,
            token=creds["token"],
            ca_cert_pem=creds.get("ca_cert_pem"),
            verify_ssl=cluster.verify_ssl,
            k8s_version=cluster.k8s_version,
            request_timeout=timeout,
            egress=egress,
        )
    except ValueError as exc:
        raise ClusterCredentialsInvalid(f"cluster {cluster.name}: {exc}") from exc


def cluster_check(*, tenant: Tenant, actor: Actor, cluster: KubeCluster) -> KubeCluster:
    """Prove the stored credentials work (GET /version, list Deployments in the default
    namespace); records the outcome on the row. Never raises for a failed check."""
    access_require(tenant=tenant, actor=actor, capability="deploy.manage", target=cluster)
    ok, error, version = False, "", ""
    try:
        with kube_target_for(cluster) as kube:
            version = kube.check_auth(namespace=cluster.default_namespace or None)
            ok = True
    except KubeError as exc:
        # The tenant reads `last_check_error`: a sentence with the status code, never the body
        # of whatever answered (the server's own text goes to the log).
        error = exc.public
        logger.info("cluster %s check failed: %s (%s)", cluster.pk, exc, exc.detail[:500])
    except ClusterCredentialsInvalid as exc:
        error = exc.message
    with transaction.atomic():
        cluster.last_checked_at, cluster.last_check_ok = timezone.now(), ok
        cluster.last_check_error, cluster.server_version = error[:2000], version[:64]
        cluster.save(
            update_fields=["last_checked_at", "last_check_ok", "last_check_error", "server_version", "updated_at"]
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="deploy.kubecluster.checked",
            target=cluster,
            changes={"ok": [None, ok], "error": [None, error[:500]]},
        )
    return cluster
