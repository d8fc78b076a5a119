"""Install with `kubectl apply -k deploy/` and run the operator with ONLY its ServiceAccount's
rights: the whole lifecycle must work, and nothing may be refused (no 403 in the log).

The operator Deployment from deploy/ is applied as-is (the local cluster's kwok nodes only
pretend to run its pod); the operator under test is a local process that authenticates with
a token of the same ServiceAccount, so it is held to exactly the RBAC in deploy/.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster
from tests.e2e.helpers import (
    ROOT,
    STATE_DIR,
    Kubectl,
    Operator,
    apply,
    condition,
    delete_env,
    devenv,
    events_for,
    get,
    manifest,
    unique,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e

SA = "system:serviceaccount:devenv-system:devenv-operator"


def service_account_kubeconfig(kubectl: Kubectl, admin_kubeconfig: Path, path: Path) -> Path:
    """A kubeconfig with the admin's server and CA but a token of the operator's SA."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:  # inline it: the file may not be readable later
        cluster = {"server": cluster["server"], "certificate-authority-data": base64.b64encode(
            Path(cluster["certificate-authority"]).read_bytes()).decode()}
    token = kubectl("create", "token", "devenv-operator", "-n", "devenv-system",
                    "--duration=1h").stdout.strip()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "devenv-operator", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "devenv-operator"}}],
        "current-context": "sa",
    }))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> Iterator[None]:
    kubectl("apply", "-k", str(ROOT / "deploy"))
    kubectl("wait", "--for=condition=Established", "crd/devenvironments.shipit.dev",
            "--timeout=60s")
    yield
    # Left installed: later tests in the session share the CRD. The Deployment goes, and so
    # do the admission policies (test_ownership.py tests them; other modules create
    # DevEnvironments as cluster admin and do not expect owners stamped on them).
    kubectl("delete", "deployment", "devenv-operator", "-n", "devenv-system",
            "--ignore-not-found", "--wait=false")
    kubectl("delete", "-k", str(ROOT / "deploy" / "admission"), "--ignore-not-found")


@pytest.fixture(scope="module")
def sa_operator(cluster: localcluster.Cluster, kubectl: Kubectl, installed: None,
                operator: Operator) -> Iterator[Operator]:
    """The operator with the ServiceAccount's credentials (the admin one is paused)."""
    operator.stop()  # two operators would fight over the same objects
    kubeconfig = service_account_kubeconfig(
        kubectl, cluster.kubeconfig, STATE_DIR / "devenv-operator-sa.kubeconfig")
    # Outside the state dir, which goes when the cluster does: keep the log for post-mortems.
    restricted = Operator(kubeconfig, STATE_DIR.parent / f"{STATE_DIR.name}-operator-sa-logs")
    for old in restricted.log_dir.glob("operator-*.log"):
        old.unlink()
    restricted.start()
    try:
        yield restricted
    finally:
        restricted.stop()
        operator.start()


def refusals(op: Operator) -> list[str]:
    return [line for line in op.logs().splitlines()
            if "Forbidden" in line or "403" in line or "forbidden" in line]


def test_kubectl_apply_k_installs_everything(kubectl: Kubectl, installed: None) -> None:
    for what in ("namespace/devenv-system", "serviceaccount/devenv-operator",
                 "clusterrole/devenv-operator", "clusterrolebinding/devenv-operator",
                 "service/devenv-operator-metrics", "deployment/devenv-operator",
                 "clusterrole/devenv-operator-view", "clusterrole/devenv-operator-edit",
                 "mutatingadmissionpolicy/devenv-owner-default",
                 "mutatingadmissionpolicybinding/devenv-owner-default",
                 "validatingadmissionpolicy/devenv-ownership",
                 "validatingadmissionpolicybinding/devenv-ownership",
                 "validatingadmissionpolicy/devenv-operator-confinement",
                 "validatingadmissionpolicybinding/devenv-operator-confinement"):
        assert get(kubectl, what, "-n", "devenv-system") is not None, what
    assert get(kubectl, "networkpolicy/devenv-operator", "-n", "devenv-system") is not None
    # The pod meets the namespace's "restricted" Pod Security level, so it is admitted.
    kubectl("rollout", "status", "deployment/devenv-operator", "-n", "devenv-system",
            "--timeout=60s")
    # Applying again changes nothing.
    again = kubectl("apply", "-k", str(ROOT / "deploy")).stdout
    assert "configured" not in again, again
    assert "created" not in again, again


def test_builtin_roles_aggregate_devenvironment_rights(kubectl: Kubectl, installed: None) -> None:
    def rules_of(role: str) -> list[dict[str, Any]]:
        found = get(kubectl, "clusterrole", role)
        return list((found or {}).get("rules") or [])

    def verbs(role: str) -> set[str]:
        return {v for r in rules_of(role) if "shipit.dev" in r.get("apiGroups", [])
                and "devenvironments" in r.get("resources", []) for v in r["verbs"]}

    wait_for(lambda: "create" in verbs("edit"), timeout=30, what="aggregation into edit")
    assert {"get", "list", "watch"} <= verbs("view")
    assert "create" not in verbs("view")
    assert {"create", "patch", "delete", "get"} <= verbs("edit")
    assert {"create", "patch", "delete", "get"} <= verbs("admin")


def test_service_account_has_no_rights_beyond_the_table(kubectl: Kubectl,
                                                        installed: None) -> None:
    def can(*args: str) -> bool:
        proc = kubectl("auth", "can-i", *args, f"--as={SA}", check=False)
        return proc.stdout.strip() == "yes"

    assert can("update", "devenvironments.shipit.dev", "--subresource=finalizers")
    assert can("patch", "devenvironments.shipit.dev", "--subresource=status")
    assert can("create", "events", "-n", "default")
    # Events: RBAC allows them anywhere (environment namespaces come and go); admission
    # (deploy/admission/operator-confinement.yaml) keeps them to default and managed ones.
    # Namespaces are listed (by label) and environments got for the orphan sweep; never
    # watched, nor updated outside patches.
    assert can("list", "namespaces")
    assert not can("watch", "namespaces")
    assert not can("update", "namespaces")
    assert not can("update", "deployments", "-n", "default")
    assert not can("create", "pods", "-n", "default")
    assert not can("update", "secrets", "-n", "kube-system")
    assert not can("update", "devenvironments.shipit.dev")
    assert not can("use", "devenvironmentclasses.shipit.dev")


def test_full_lifecycle_with_only_the_service_account(kubectl: Kubectl,
                                                      sa_operator: Operator) -> None:
    started = time.monotonic()
    platform = unique("h6-platform")  # not one an earlier test is still deleting
    kubectl("create", "namespace", platform)
    apply(kubectl, {"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "pull", "namespace": platform,
                                 "labels": {"shipit.dev/copyable": "true"}},
                    "stringData": {"token": "s3cret"}})
    spec = manifest("h6-rbac", services=[
        {"name": "db", "image": "postgres:16", "ports": [{"port": 5432}]},
        {"name": "api", "image": "api:1", "dependsOn": ["db"], "ports": [{"port": 8080}]},
    ], config={"configMaps": [{"name": "app", "data": {"LOG": "debug"}}],
               "secrets": [{"name": "pw", "generate": {"keys": ["password"]}},
                           {"name": "pull", "copyFrom": {"namespace": platform,
                                                         "name": "pull"}}]})
    apply(kubectl, spec)
    ready = wait_phase(kubectl, "h6-rbac", "Ready", timeout=90)
    assert ready["status"]["namespace"] == "dev-h6-rbac"
    copied = get(kubectl, "secret", "pull", "-n", "dev-h6-rbac")
    assert copied is not None
    assert base64.b64decode(copied["data"]["token"]).decode() == "s3cret"

    # Update: a new image converges and the environment is Ready again.
    spec["spec"]["services"][1]["image"] = "api:2"
    apply(kubectl, spec)

    def rolled_out() -> bool:
        env = devenv(kubectl, "h6-rbac") or {}
        deploy = get(kubectl, "deployment", "api", "-n", "dev-h6-rbac") or {}
        image = deploy["spec"]["template"]["spec"]["containers"][0]["image"] if deploy else ""
        status = env.get("status") or {}
        return (image == "api:2" and status.get("phase") == "Ready"
                and status.get("observedGeneration") == env["metadata"]["generation"])

    wait_for(rolled_out, timeout=90, what="the image update to converge")

    # Events reached the API (their creation errors are swallowed, so look for them).
    reasons = {e["reason"] for e in events_for(kubectl, "h6-rbac")}
    assert {"NamespaceCreated", "Ready"} <= reasons, reasons

    # Delete: returns once the namespace is gone.
    delete_env(kubectl, "h6-rbac", wait=True)
    assert get(kubectl, "namespace", "dev-h6-rbac") is None

    # Expire: ttl 15s, then the operator deletes it.
    apply(kubectl, manifest("h6-ttl", ttl="15s"))
    wait_phase(kubectl, "h6-ttl", "Ready", timeout=60)
    wait_for(lambda: devenv(kubectl, "h6-ttl") is None, timeout=60,
             what="h6-ttl to expire and be deleted")
    expired = [e for e in events_for(kubectl, "h6-ttl") if e["reason"] == "Expired"]
    assert expired, "no Expired event"

    assert not refusals(sa_operator), "\n".join(refusals(sa_operator))
    print(f"lifecycle with ServiceAccount credentials took {time.monotonic() - started:.1f}s")


def test_not_copyable_secret_is_refused_with_a_reason(kubectl: Kubectl,
                                                      sa_operator: Operator) -> None:
    platform = unique("h6-platform")  # not one an earlier test is still deleting
    kubectl("create", "namespace", platform)
    apply(kubectl, {"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "private", "namespace": platform},
                    "stringData": {"token": "nope"}})
    apply(kubectl, manifest("h6-nocopy", config={"secrets": [
        {"name": "private", "copyFrom": {"namespace": platform, "name": "private"}}]}))
    try:
        env = wait_for(lambda: (e := devenv(kubectl, "h6-nocopy")) and condition(
            e, "ConfigSeeded").get("reason") == "SecretNotCopyable" and e, timeout=60,
            what="SecretNotCopyable")
        assert "private" in json.dumps(env["status"])
    finally:
        delete_env(kubectl, "h6-nocopy", wait=True)
    assert not refusals(sa_operator), "\n".join(refusals(sa_operator))
