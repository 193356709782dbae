"""Kubernetes clusters a tenant deploys to, with credentials encrypted at rest.

Invariants: plaintext credentials exist only in the arguments of `cluster_create` /
`cluster_set_credentials` and inside `kube_target_for` (decrypted per use, never cached, never
logged, never audited, never serialised). Audit records say *that* credentials changed.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deploy.crypto import SecretDecryptError, decrypt_secret, encrypt_secret
from deploy.k8s.client import KubeError, KubeTarget
from deploy.models import Deployment, KubeCluster
from portal.exceptions import ApplicationError, Conflict
from tenants.access import access_require
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.services import audit_record


class ClusterCredentialsInvalid(ApplicationError):
    code = "invalid_credentials"


def _credentials_blob(
    *, auth_kind: str, api_server: str, token: str, ca_cert_pem: str, kubeconfig: str, context: str
) -> str:
    if auth_kind == KubeCluster.AuthKind.KUBECONFIG:
        if not kubeconfig.strip():
            raise ClusterCredentialsInvalid("kubeconfig: paste the kubeconfig text.", extra={"field": "kubeconfig"})
        return encrypt_secret(json.dumps({"kubeconfig": kubeconfig, "context": context or None}))
    if not api_server.strip():
        raise ClusterCredentialsInvalid("api_server: the API server URL is required.", extra={"field": "api_server"})
    if not token.strip():
        raise ClusterCredentialsInvalid("token: a bearer token is required.", extra={"field": "token"})
    return encrypt_secret(json.dumps({"token": token.strip(), "ca_cert_pem": ca_cert_pem or None}))


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
    blob = _credentials_blob(
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
    blob = _credentials_blob(
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
    try:
        if "kubeconfig" in creds:
            return KubeTarget.from_credentials(
                kubeconfig=creds["kubeconfig"],
                context=creds.get("context"),
                k8s_version=cluster.k8s_version,
                request_timeout=timeout,
            )
        return KubeTarget.from_credentials(
            host=cluster.api_server,
            token=creds["token"],
            ca_cert_pem=creds.get("ca_cert_pem"),
            verify_ssl=cluster.verify_ssl,
            k8s_version=cluster.k8s_version,
            request_timeout=timeout,
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
    except (KubeError, ClusterCredentialsInvalid) as exc:
        error = getattr(exc, "message", None) or str(exc)
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
