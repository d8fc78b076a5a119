"""What an environment's owner may do in its namespace, on the real API server: the shipped
devenv-owner role (deploy/user-roles.yaml), and the admission policies of
deploy/admission/tenant-guardrails.yaml, which refuse what a wider ownerRole (the built-in
`edit`, which the owner binding used to be) would let an owner do to widen the class's
isolation. Each attempt is made as the owner, by impersonation, in the owner's own
environment; and the operator still builds the whole environment under the policies.

Developers are bound to the project's roles only (devenv-operator-view and -edit), never to
the cluster-wide `edit`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    absent,
    apply,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
    yaml_docs,
)

pytestmark = pytest.mark.e2e

USERS_GROUP = "owner-rights-users"
OWNER = "olive"
OPERATOR_SA = "system:serviceaccount:devenv-system:devenv-operator"
REGISTRY = "registry.example.com/team/"
WEB = {"name": "web", "image": f"{REGISTRY}web:1", "ports": [{"port": 80}]}
GUARDRAILS = ROOT / "deploy" / "admission" / "tenant-guardrails.yaml"


@dataclass
class Environments:
    """Two environments of olive's: one under a class with the default ownerRole
    (devenv-owner), one under a class that still binds `edit`."""

    owner_ns: str
    edit_ns: str
    edit_class: str


def _binding(name: str, role: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": USERS_GROUP}]}


def as_owner(kubectl: Kubectl, *args: str, body: dict[str, Any] | None = None,
             who: str = OWNER) -> subprocess.CompletedProcess[str]:
    groups = [f"--as-group={USERS_GROUP}"] if who == OWNER else []
    return kubectl(f"--as={who}", *groups, *args,
                   input=json.dumps(body) if body is not None else None, check=False)


def can(kubectl: Kubectl, verb: str, resource: str, ns: str) -> bool:
    """`kubectl auth can-i` as the owner; ``pods/exec`` is the exec subresource of pods."""
    what, _, sub = resource.partition("/")
    flags = [f"--subresource={sub}"] if sub else []
    return as_owner(kubectl, "auth", "can-i", verb, what, *flags, "-n", ns
                    ).stdout.strip() == "yes"


def create(kubectl: Kubectl, ns: str, obj: dict[str, Any], who: str = OWNER
           ) -> subprocess.CompletedProcess[str]:
    """Create as the owner (or ``who``), checked by every admission step but not kept."""
    return as_owner(kubectl, "create", "--dry-run=server", "-n", ns, "-f", "-", body=obj,
                    who=who)


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def pod(name: str, image: str = f"{REGISTRY}tool:1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": image}], **spec}}


def job(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": image}]}}}}


PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "block"},
       "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {}}}}
ALLOW_ALL = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "allow-all"},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}
SIDECAR = {"spec": {"template": {"spec": {"containers": [
    {"name": "sidecar", "image": f"{REGISTRY}sidecar:1"}]}}}}


def refused(result: subprocess.CompletedProcess[str], *words: str) -> bool:
    return result.returncode != 0 and all(w in result.stderr for w in words)


@pytest.fixture(scope="module")
def environments(kubectl: Kubectl, crds: None, operator: Operator) -> Iterator[Environments]:
    # RBAC: the project's roles for people (bound to a group, not `edit`), and the operator's
    # (deploy/rbac.yaml: its ServiceAccount is impersonated below).
    ours = absent(kubectl, yaml_docs("deploy/rbac.yaml") + yaml_docs("deploy/user-roles.yaml"))
    made = [*ours, _binding("owner-rights-view", "devenv-operator-view"),
            _binding("owner-rights-edit", "devenv-operator-edit")]
    classes = [unique("own-role"), unique("own-edit")]
    names = [unique("rights"), unique("rights-edit")]
    try:
        apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": made})
        kubectl("apply", "-f", str(GUARDRAILS))
        registries = {"images": {"allowedRegistries": [REGISTRY]}}
        apply(kubectl, [{"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                         "metadata": {"name": classes[0]}, "spec": registries},
                        {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                         "metadata": {"name": classes[1]},
                         "spec": {**registries, "ownerRole": "edit"}}])
        wait_for(lambda: as_owner(kubectl, "auth", "can-i", "create",
                                  "devenvironments.shipit.dev").stdout.strip() == "yes",
                 timeout=30, what="the user roles to be bound")
        for name, cls in zip(names, classes, strict=True):
            result = as_owner(kubectl, "apply", "-f", "-", body=manifest(
                name, className=cls, owner=OWNER, services=[WEB]))
            assert result.returncode == 0, result.stderr
        for name in names:  # the operator's own writes pass the policies
            wait_ready(kubectl, name, timeout=120)
        envs = Environments(f"dev-{names[0]}", f"dev-{names[1]}", classes[1])
        wait_for(lambda: refused(create(kubectl, envs.edit_ns, PDB), "PodDisruptionBudget"),
                 timeout=30, interval=0.5, what="the tenant guardrails to act")
        yield envs
    finally:
        for name in names:
            kubectl("delete", "devenvironment", name, "--ignore-not-found", "--wait=true",
                    "--timeout=90s")
        kubectl("delete", "-f", str(GUARDRAILS), "--ignore-not-found")
        for cls in classes:
            kubectl("delete", "devenvironmentclass", cls, "--ignore-not-found")
        for doc in reversed(made):
            kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"],
                    "--ignore-not-found")


def test_the_default_owner_role_lets_a_developer_work_and_widens_nothing(
        kubectl: Kubectl, environments: Environments) -> None:
    ns = environments.owner_ns
    binding = get(kubectl, "rolebinding", "devenv-owner", "-n", ns) or {}
    assert binding["roleRef"]["name"] == "devenv-owner"
    for verb, resource in [("get", "pods"), ("create", "pods/exec"), ("get", "pods/log"),
                           ("create", "pods/portforward"), ("delete", "pods"),
                           ("create", "jobs.batch"), ("create", "configmaps"),
                           ("create", "secrets"), ("list", "services"),
                           ("patch", "deployments.apps"), ("update", "deployments.apps/scale"),
                           ("list", "events"), ("list", "persistentvolumeclaims")]:
        assert can(kubectl, verb, resource, ns), f"{verb} {resource}"
    widening = [("create", "services"), ("create", "pods"),
                ("create", "networkpolicies.networking.k8s.io"),
                ("delete", "networkpolicies.networking.k8s.io"),
                ("create", "poddisruptionbudgets.policy"), ("update", "deployments.apps")]
    for verb, resource in widening:
        assert not can(kubectl, verb, resource, ns), f"{verb} {resource}"
        # ... all of which the `edit` binding allows (the policies refuse them, below).
        assert can(kubectl, verb, resource, environments.edit_ns), f"edit: {verb} {resource}"
    for verb, resource in [("create", "rolebindings.rbac.authorization.k8s.io"),
                           ("patch", "resourcequotas"), ("delete", "limitranges")]:
        assert not can(kubectl, verb, resource, ns), f"{verb} {resource}"
    # A restart and a scale work, as the owner.
    restart = as_owner(kubectl, "rollout", "restart", "deployment/web", "-n", ns)
    assert restart.returncode == 0, restart.stderr
    scale = as_owner(kubectl, "scale", "deployment/web", "--replicas=1", "-n", ns)
    assert scale.returncode == 0, scale.stderr
    refusal = create(kubectl, ns, ALLOW_ALL)
    assert refusal.returncode != 0
    assert "forbidden" in refusal.stderr.lower()


def test_services_that_reach_outside_the_cluster_are_refused(
        kubectl: Kubectl, environments: Environments) -> None:
    ns = environments.edit_ns
    assert create(kubectl, ns, service("plain")).returncode == 0  # ClusterIP is fine
    assert refused(create(kubectl, ns, service("hijack", externalIPs=["10.0.0.99"])),
                   "externalIPs", "CVE-2020-8554")
    for kind in ("LoadBalancer", "NodePort"):
        assert refused(create(kubectl, ns, service(kind.lower(), type=kind)),
                       f"spec.type {kind}", "allowedServiceTypes")
    # ... unless the class allows the type.
    cls = environments.edit_class
    kubectl("patch", "devenvironmentclass", cls, "--type=merge", "-p", json.dumps(
        {"spec": {"workloadSecurity": {"allowedServiceTypes": ["NodePort"]}}}))
    try:
        wait_for(lambda: create(kubectl, ns, service("np", type="NodePort")).returncode == 0,
                 timeout=30, interval=0.5, what="the class's allowedServiceTypes to apply")
        assert refused(create(kubectl, ns, service("lb", type="LoadBalancer")),
                       "allowedServiceTypes: NodePort")
    finally:
        kubectl("patch", "devenvironmentclass", cls, "--type=json", "-p",
                '[{"op": "remove", "path": "/spec/workloadSecurity/allowedServiceTypes"}]')


def test_pods_may_not_take_a_priority_class_or_block_drains(
        kubectl: Kubectl, environments: Environments) -> None:
    ns = environments.edit_ns
    assert create(kubectl, ns, pod("ok")).returncode == 0
    assert refused(create(kubectl, ns, pod("vip", priorityClassName="system-node-critical")),
                   "priorityClassName system-node-critical", "allowedPriorityClasses")
    template = job("vip", f"{REGISTRY}tool:1")
    template["spec"]["template"]["spec"]["priorityClassName"] = "system-cluster-critical"
    assert refused(create(kubectl, ns, template), "priorityClassName system-cluster-critical")
    assert refused(create(kubectl, ns, PDB), "PodDisruptionBudgets are not allowed")


def test_every_pod_s_images_come_from_the_class_s_registries(
        kubectl: Kubectl, environments: Environments) -> None:
    ns = environments.edit_ns
    assert refused(create(kubectl, ns, pod("miner", "docker.io/library/busybox:1")),
                   "docker.io/library/busybox:1", "images.allowedRegistries")
    init = pod("init")
    init["spec"]["initContainers"] = [{"name": "i", "image": "quay.example.org/x:1"}]
    assert refused(create(kubectl, ns, init), "quay.example.org/x:1")
    assert refused(create(kubectl, ns, job("batch", "docker.io/library/busybox:1")),
                   "images.allowedRegistries")
    # The owner of a devenv-owner environment runs Jobs; their pods are checked too.
    assert refused(create(kubectl, environments.owner_ns,
                          job("batch", "docker.io/library/busybox:1")),
                   "images.allowedRegistries")
    assert create(kubectl, environments.owner_ns, job("batch", f"{REGISTRY}tool:1")
                  ).returncode == 0


def test_the_operator_s_deployments_and_network_policy_are_the_operator_s(
        kubectl: Kubectl, environments: Environments) -> None:
    ns = environments.edit_ns
    added = as_owner(kubectl, "patch", "deployment", "web", "-n", ns, "--dry-run=server",
                     "-p", json.dumps(SIDECAR))
    assert refused(added, "containers cannot be added", "sidecar")
    restart = as_owner(kubectl, "rollout", "restart", "deployment/web", "-n", ns)
    assert restart.returncode == 0, restart.stderr
    assert refused(create(kubectl, ns, ALLOW_ALL), "only the devenv-operator writes")
    deleted = as_owner(kubectl, "delete", "networkpolicy", "devenv-isolation", "-n", ns,
                       "--dry-run=server")
    assert refused(deleted, "you may not delete one")
    # The operator's ServiceAccount is not refused (`kubectl patch` reads the object first,
    # which the operator itself never needs: a Role for the test lets it).
    assert create(kubectl, ns, ALLOW_ALL, who=OPERATOR_SA).returncode == 0
    kubectl("create", "role", "read-web", "-n", ns, "--verb=get", "--resource=deployments")
    kubectl("create", "rolebinding", "read-web", "-n", ns, "--role=read-web",
            f"--serviceaccount={OPERATOR_SA.split(':', 2)[2]}")
    wait_for(lambda: as_owner(kubectl, "auth", "can-i", "get", "deployments", "-n", ns,
                              who=OPERATOR_SA).stdout.strip() == "yes",
             timeout=30, what="the test's Role to be bound")
    as_operator = as_owner(kubectl, "patch", "deployment", "web", "-n", ns,
                           "--dry-run=server", "-p", json.dumps(SIDECAR), who=OPERATOR_SA)
    assert as_operator.returncode == 0, as_operator.stderr


def test_a_container_added_to_an_operator_deployment_is_removed(
        kubectl: Kubectl, environments: Environments, operator: Operator) -> None:
    """Added by someone the policies let through (a platform admin, as another field
    manager, which a server-side apply would leave alone): the operator removes it at its
    next reconcile, and leaves the rest as it was."""
    ns = environments.owner_ns
    before = get(kubectl, "deployment", "web", "-n", ns) or {}
    patched = json.loads(kubectl("patch", "deployment", "web", "-n", ns, "-o", "json",
                                 "-p", json.dumps(SIDECAR)).stdout)
    assert sorted(c["name"] for c in patched["spec"]["template"]["spec"]["containers"]) == [
        "sidecar", "web"]

    def names() -> list[str]:
        deployment = get(kubectl, "deployment", "web", "-n", ns) or {}
        return [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    wait_for(lambda: names() == ["web"], timeout=60, what="the operator to remove the sidecar")
    wait_for(lambda: "Removed containers sidecar" in operator.logs(), timeout=10,
             what="the operator to say what it removed")
    after = get(kubectl, "deployment", "web", "-n", ns) or {}
    assert after["spec"]["template"] == before["spec"]["template"]


def test_a_class_moving_from_edit_to_devenv_owner_rebinds_its_owners(
        kubectl: Kubectl, environments: Environments) -> None:
    """An upgrade: a binding's roleRef cannot change in place, so the operator replaces it."""
    ns = environments.edit_ns
    kubectl("patch", "devenvironmentclass", environments.edit_class, "--type=merge", "-p",
            json.dumps({"spec": {"ownerRole": "devenv-owner"}}))
    wait_for(lambda: ((get(kubectl, "rolebinding", "devenv-owner", "-n", ns) or {})
                      .get("roleRef") or {}).get("name") == "devenv-owner", timeout=60,
             what="the owner's binding to follow the class")
    assert not can(kubectl, "create", "networkpolicies.networking.k8s.io", ns)
    assert can(kubectl, "create", "pods/exec", ns)
