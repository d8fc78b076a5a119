"""The class's objects in an environment's namespace, and the hardening of its workloads.

ResourceQuota, LimitRange, NetworkPolicy and the owner's RoleBinding come from the
environment's DevEnvironmentClass; each is a child like any other (labelled, pruned when
the class stops asking for it, repaired when edited by hand). ``pod_security`` is what
every pod and container gets, unless the class relaxes it.
"""

from __future__ import annotations

from typing import Any

from devenv_operator.builders.common import CLASS_LABEL, Env, metadata
from devenv_operator.owners import Owner

QUOTA_NAME = "devenv-quota"
LIMITS_NAME = "devenv-limits"
NETWORK_POLICY_NAME = "devenv-isolation"
OWNER_BINDING_NAME = "devenv-owner"
PSA = "pod-security.kubernetes.io"
MAX_LABEL_VALUE = 63


def namespace_labels(env: Env) -> dict[str, str]:
    """Pod Security labels for the namespace of an environment with a class, and the class
    (deploy/admission/operator-pod-security.yaml lets the operator set only its level)."""
    if env.class_name is None:
        return {}
    labels: dict[str, str] = {f"{PSA}/enforce": env.policy.pod_security,
                              f"{PSA}/warn": "restricted", f"{PSA}/audit": "restricted"}
    if len(env.class_name) <= MAX_LABEL_VALUE:  # a longer name cannot be a label value
        labels[CLASS_LABEL] = env.class_name
    return labels


def build_resource_quota(env: Env) -> dict[str, Any] | None:
    quota = env.policy.resource_quota
    if quota is None:
        return None
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": metadata(env, QUOTA_NAME),
            "spec": {"hard": {k: str(v) for k, v in quota.hard.items()}}}


def build_limit_range(env: Env) -> dict[str, Any] | None:
    limits = env.policy.limit_range
    if limits is None:
        return None
    item: dict[str, Any] = {"type": "Container"}
    for field, key in (("default", "default"), ("default_request", "defaultRequest"),
                       ("max", "max")):
        values = getattr(limits, field)
        if values:
            item[key] = {k: str(v) for k, v in values.items()}
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": metadata(env, LIMITS_NAME),
            "spec": {"limits": [item]}}


def container_defaults(env: Env) -> tuple[dict[str, str], dict[str, str]]:
    """(requests, limits) the class's LimitRange gives a container that sets none, with the
    API server's defaulting of a LimitRange: a default limit from ``max``, a default request
    from the default limit."""
    limits = env.policy.limit_range
    if limits is None:
        return {}, {}
    default = {**_text(limits.max), **_text(limits.default)}
    return {**default, **_text(limits.default_request)}, default


def _text(values: dict[str, int | str] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (values or {}).items()}


def build_network_policy(env: Env) -> dict[str, Any] | None:
    if env.policy.network_policy != "isolated":
        return None
    peers: list[dict[str, Any]] = [{"podSelector": {}}]  # the same namespace
    for selector in env.policy.allow_ingress_from or []:
        peers.append({"namespaceSelector": {"matchLabels": dict(selector.match_labels)}})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": metadata(env, NETWORK_POLICY_NAME),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": peers}, *_from_gateway(env)]}}


def _from_gateway(env: Env) -> list[dict[str, Any]]:
    """The class's Gateway may reach the exposed ports (and only those) of an isolated
    environment: its routes lead there."""
    exposure = env.policy.exposure
    ports = sorted({p.port for s in env.spec.services for p in s.ports or []
                    if p.exposure() is not None})
    if exposure is None or exposure.gateway is None or not ports:
        return []
    gateway_namespace = {"kubernetes.io/metadata.name": exposure.gateway.namespace}
    return [{"from": [{"namespaceSelector": {"matchLabels": gateway_namespace}}],
             "ports": [{"protocol": "TCP", "port": port} for port in ports]}]


def owner_subject(owner: str) -> dict[str, Any]:
    """The RBAC subject of ``spec.owner``: a user, ``group:<name>``, or a ServiceAccount."""
    return Owner.parse(owner).subject()


def build_owner_binding(env: Env) -> dict[str, Any] | None:
    """The owner's rights in the namespace (logs, exec, Events): the class's ownerRole."""
    if not env.policy.owner_role or not env.spec.owner:
        return None
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": metadata(env, OWNER_BINDING_NAME),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": env.policy.owner_role},
            "subjects": [owner_subject(env.spec.owner)]}


def build_class_objects(env: Env) -> list[dict[str, Any]]:
    """Every class object the environment's namespace should hold."""
    built = (build_resource_quota(env), build_limit_range(env), build_network_policy(env),
             build_owner_binding(env))
    return [obj for obj in built if obj is not None]


def pod_security(env: Env) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod-level fields, the container's securityContext) for every workload."""
    hardening = env.policy.workload_security
    pod: dict[str, Any] = {
        "automountServiceAccountToken": hardening.automount_service_account_token,
        "securityContext": {"seccompProfile": {"type": hardening.seccomp_profile}},
    }
    if env.pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in env.pull_secrets]
    container: dict[str, Any] = {
        "allowPrivilegeEscalation": hardening.allow_privilege_escalation}
    if not hardening.allow_root:
        container["runAsNonRoot"] = True
    if hardening.drop_all_capabilities:
        container["capabilities"] = {"drop": ["ALL"]}
        if hardening.add_capabilities:
            container["capabilities"]["add"] = list(hardening.add_capabilities)
    return pod, container
