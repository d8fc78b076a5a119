"""The core contract, driven through kubectl on the real local control plane.

Apply -> Ready with the right children; spec updates converge; drift is repaired; dependsOn
order; timeout and recovery; invalid input; namespace conflicts; secret copies; teardown;
and an operator killed mid-provisioning.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    delete_env,
    devenv,
    events_for,
    get,
    items,
    manifest,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e
UNPULLABLE = "unpullable.invalid/never:1"
MANAGED = "app.kubernetes.io/managed-by=devenv-operator"


def ready(kubectl: Kubectl, name: str, timeout: str = "60s") -> dict[str, Any]:
    kubectl("wait", f"devenv/{name}", "--for=condition=Ready", f"--timeout={timeout}")
    env = devenv(kubectl, name)
    assert env is not None
    return env


def managed_names(kubectl: Kubectl, kind: str, namespace: str) -> set[str]:
    return {o["metadata"]["name"] for o in items(kubectl, kind, "-n", namespace, "-l", MANAGED)}


def test_stack_example_becomes_ready_with_labelled_children(
        kubectl: Kubectl, running_operator: Operator) -> None:
    example = yaml.safe_load((ROOT / "examples" / "stack.yaml").read_text())
    example["metadata"]["name"] = "stack-e2e"
    started = time.monotonic()
    apply(kubectl, example)
    env = ready(kubectl, "stack-e2e")
    took = time.monotonic() - started
    status = env["status"]
    assert status["phase"] == "Ready"
    assert status["namespace"] == "dev-stack-e2e"
    assert status["readyServices"] == "3/3"
    assert status["observedGeneration"] == env["metadata"]["generation"]
    assert status["readyAt"]
    for ctype in ("Ready", "NamespaceReady", "ConfigSeeded", "ServicesReady"):
        cond = condition(env, ctype)
        assert cond["status"] == "True", cond
        assert cond["observedGeneration"] == env["metadata"]["generation"]
    assert {s["name"]: s["ready"] for s in status["services"]} == {
        "db": True, "cache": True, "api": True}

    ns = get(kubectl, "namespace", "dev-stack-e2e")
    assert ns is not None
    assert ns["metadata"]["labels"]["shipit.dev/environment"] == "stack-e2e"
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "devenv-operator"
    [owner] = ns["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("DevEnvironment", env["metadata"]["uid"])

    assert managed_names(kubectl, "deployments", "dev-stack-e2e") == {"db", "cache", "api"}
    assert managed_names(kubectl, "services", "dev-stack-e2e") == {"db", "cache", "api"}
    assert managed_names(kubectl, "configmaps", "dev-stack-e2e") == {"app-config"}
    assert managed_names(kubectl, "secrets", "dev-stack-e2e") == {"db", "api"}
    for kind in ("deployments", "services"):
        for obj in items(kubectl, kind, "-n", "dev-stack-e2e", "-l", MANAGED):
            labels = obj["metadata"]["labels"]
            assert labels["shipit.dev/environment"] == "stack-e2e"
            assert labels["app.kubernetes.io/name"] == obj["metadata"]["name"]
    api = get(kubectl, "deployment", "api", "-n", "dev-stack-e2e")
    assert api is not None
    assert api["spec"]["replicas"] == 2
    password = get(kubectl, "secret", "db", "-n", "dev-stack-e2e")
    assert password is not None
    assert len(base64.b64decode(password["data"]["password"])) == 32
    reasons = {e["reason"] for e in events_for(kubectl, "stack-e2e")}
    assert {"NamespaceCreated", "Created", "Ready"} <= reasons
    print(f"\nstack example: kubectl apply -> Ready in {took:.2f}s")


def test_spec_update_converges(kubectl: Kubectl, running_operator: Operator) -> None:
    spec: dict[str, Any] = {
        "services": [
            {"name": "web", "image": "nginx:1.26", "ports": [{"port": 80}]},
            {"name": "extra", "image": "busybox:1", "ports": [{"port": 9000}]},
        ],
        "config": {"configMaps": [{"name": "keep", "data": {"A": "1"}},
                                  {"name": "drop", "data": {"B": "2"}}],
                   "secrets": [{"name": "gone", "stringData": {"x": "y"}}]},
    }
    apply(kubectl, manifest("update-e2e", **spec))
    env = ready(kubectl, "update-e2e")
    ns = env["status"]["namespace"]
    spec["services"] = [{"name": "web", "image": "nginx:1.27", "ports": [{"port": 80}]}]
    spec["config"] = {"configMaps": [{"name": "keep", "data": {"A": "changed"}}]}
    apply(kubectl, manifest("update-e2e", **spec))

    def converged() -> bool:
        web = get(kubectl, "deployment", "web", "-n", ns)
        keep = get(kubectl, "configmap", "keep", "-n", ns)
        return bool(
            web and web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
            and keep and keep["data"] == {"A": "changed"}
            and managed_names(kubectl, "deployments", ns) == {"web"}
            and managed_names(kubectl, "services", ns) == {"web"}
            and managed_names(kubectl, "configmaps", ns) == {"keep"}
            and managed_names(kubectl, "secrets", ns) == set())
    wait_for(converged, 60, what="children to converge to the new spec")
    env = ready(kubectl, "update-e2e")
    assert env["status"]["observedGeneration"] == env["metadata"]["generation"] == 2
    assert env["status"]["readyServices"] == "1/1"
    delete_env(kubectl, "update-e2e")


def test_drift_is_repaired(kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("drift-e2e", services=[
        {"name": "web", "image": "nginx:1.27", "ports": [{"port": 80}]}],
        config={"configMaps": [{"name": "cfg", "data": {"A": "1"}}]}))
    ns = ready(kubectl, "drift-e2e")["status"]["namespace"]
    before = get(kubectl, "deployment", "web", "-n", ns)
    assert before is not None
    kubectl("delete", "deployment", "web", "-n", ns, "--wait=false")
    kubectl("delete", "service", "web", "-n", ns, "--wait=false")
    kubectl("patch", "configmap", "cfg", "-n", ns, "--type=merge", "-p",
            '{"data": {"A": "tampered"}}')
    kubectl("set", "image", "deployment/web", "web=evil:1", "-n", ns, check=False)

    def repaired() -> bool:
        web = get(kubectl, "deployment", "web", "-n", ns)
        svc = get(kubectl, "service", "web", "-n", ns)
        cfg = get(kubectl, "configmap", "cfg", "-n", ns)
        return bool(
            web and web["metadata"]["uid"] != before["metadata"]["uid"]
            and web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
            and svc and cfg and cfg["data"] == {"A": "1"})
    wait_for(repaired, 30, what="deleted and edited children to be restored")
    ready(kubectl, "drift-e2e")
    delete_env(kubectl, "drift-e2e")


def test_children_are_served_from_watches_between_resyncs(
        kubectl: Kubectl, operator: Operator) -> None:
    """With a resync far away, watched children are still repaired at once (the cache is
    fed by the watches), spec changes still converge, and a generated Secret is not
    regenerated by reconciles that read it from the cache; a seeded Secret deleted by hand
    comes back at the next resync."""
    with operator.settings_applied(DEVENV_RESYNC_INTERVAL="15s"):
        spec_config = {"configMaps": [{"name": "cfg", "data": {"A": "1"}}],
                       "secrets": [{"name": "db", "generate": {"keys": ["password"]}}]}
        apply(kubectl, manifest("cache-e2e", services=[
            {"name": "web", "image": "nginx:1.27", "ports": [{"port": 80}]}],
            config=spec_config))
        ns = ready(kubectl, "cache-e2e")["status"]["namespace"]
        secret = get(kubectl, "secret", "db", "-n", ns)
        assert secret is not None
        password = secret["data"]["password"]
        started = time.monotonic()
        kubectl("delete", "deployment", "web", "-n", ns, "--wait=false")
        kubectl("patch", "configmap", "cfg", "-n", ns, "--type=merge", "-p",
                '{"data": {"A": "tampered"}}')

        def repaired() -> bool:
            web = get(kubectl, "deployment", "web", "-n", ns)
            cfg = get(kubectl, "configmap", "cfg", "-n", ns)
            return bool(web and cfg and cfg["data"] == {"A": "1"})
        wait_for(repaired, 10, what="watched children to be restored before any resync")
        assert time.monotonic() - started < 10
        apply(kubectl, manifest("cache-e2e", services=[
            {"name": "web", "image": "nginx:1.27", "replicas": 2, "ports": [{"port": 80}]}],
            config=spec_config))
        wait_for(lambda: (get(kubectl, "deployment", "web", "-n", ns) or {}).get(
            "spec", {}).get("replicas") == 2, 20, what="the spec change to reach the Deployment")
        ready(kubectl, "cache-e2e")
        secret = get(kubectl, "secret", "db", "-n", ns)
        assert secret is not None
        assert secret["data"]["password"] == password
        kubectl("delete", "secret", "db", "-n", ns)
        wait_for(lambda: get(kubectl, "secret", "db", "-n", ns) is not None, 40,
                 what="the deleted seeded Secret to come back at the resync")
        delete_env(kubectl, "cache-e2e")


def test_depends_on_order_and_dependency_reason(
        kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("order-e2e", services=[
        {"name": "db", "image": UNPULLABLE},
        {"name": "api", "image": "api:1", "dependsOn": ["db"]},
    ]))
    def blocked_on_pull() -> dict[str, Any] | None:
        # The first status names the dependency at once; the root cause follows as soon
        # as the pod's image pull fails (seen on the next recheck of the pods).
        env = devenv(kubectl, "order-e2e")
        cond = condition(env, "ServicesReady")
        return env if (cond.get("reason") == "DependencyNotReady"
                       and "ImagePull" in cond.get("message", "")) else None
    env = wait_for(blocked_on_pull, 30,
                   what="ServicesReady=False/DependencyNotReady naming the image pull")
    ns = env["status"]["namespace"]
    message = condition(env, "ServicesReady")["message"]
    assert "api: DependencyNotReady: waiting for db" in message
    assert "db: 0/1 ready: " in message, message  # names the root cause
    time.sleep(3)  # give a wrong implementation time to create api anyway
    assert get(kubectl, "deployment", "api", "-n", ns) is None
    api_status = next(s for s in devenv(kubectl, "order-e2e")["status"]["services"]  # type: ignore[index]
                      if s["name"] == "api")
    assert api_status["message"].startswith("DependencyNotReady")

    kubectl("patch", "devenv", "order-e2e", "--type=json", "-p",
            '[{"op": "replace", "path": "/spec/services/0/image", "value": "postgres:16"}]')
    ready(kubectl, "order-e2e")
    db = get(kubectl, "deployment", "db", "-n", ns)
    api = get(kubectl, "deployment", "api", "-n", ns)
    assert db is not None
    assert api is not None
    available = next(c for c in db["status"]["conditions"] if c["type"] == "Available")
    assert api["metadata"]["creationTimestamp"] >= available["lastTransitionTime"]
    delete_env(kubectl, "order-e2e")


def test_ready_timeout_fails_then_recovers(kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("timeout-e2e", readyTimeout="6s",
                            services=[{"name": "web", "image": UNPULLABLE}]))
    env = wait_phase(kubectl, "timeout-e2e", "Failed", timeout=40)
    ready_cond = condition(env, "Ready")
    assert ready_cond["status"] == "False"
    assert ready_cond["reason"] == "ReadyTimeout"
    assert "web" in ready_cond["message"]
    assert "ImagePull" in ready_cond["message"]
    assert "web" in env["status"]["message"]
    assert any(e["reason"] == "ReadyTimeout" and e["type"] == "Warning"
               for e in events_for(kubectl, "timeout-e2e"))
    kubectl("patch", "devenv", "timeout-e2e", "--type=json", "-p",
            '[{"op": "replace", "path": "/spec/services/0/image", "value": "nginx:1.27"}]')
    env = ready(kubectl, "timeout-e2e")
    assert env["status"]["phase"] == "Ready"
    delete_env(kubectl, "timeout-e2e")


def test_failed_service_recovers_without_a_spec_change(
        kubectl: Kubectl, running_operator: Operator) -> None:
    """Reconciling continues after ReadyTimeout: fixing the cause outside the spec heals it."""
    apply(kubectl, manifest("recover-e2e", readyTimeout="5s", services=[
        {"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": "64"}}}]))
    env = wait_phase(kubectl, "recover-e2e", "Failed", timeout=40)
    assert "Insufficient cpu" in condition(env, "Ready")["message"]
    ns = env["status"]["namespace"]
    # A platform admin adds a big node: the pending pod schedules, the environment is Ready.
    big = {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "kwok-big-node", "labels": {"type": "kwok"},
        "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "status": {"allocatable": {"cpu": "128", "memory": "256Gi", "pods": "110"},
                   "capacity": {"cpu": "128", "memory": "256Gi", "pods": "110"}}}
    apply(kubectl, big)
    try:
        ready(kubectl, "recover-e2e", timeout="90s")
        assert get(kubectl, "deployment", "web", "-n", ns) is not None
    finally:
        # The environment before the node its pod runs on: once the node is gone, nothing
        # finishes deleting that pod (nor so the namespace) for a minute or more.
        kubectl("delete", "devenvironment", "recover-e2e", "--ignore-not-found",
                "--timeout=60s", check=False)
        kubectl("delete", "node", "kwok-big-node", "--wait=false")


@pytest.mark.parametrize(("spec", "field"), [
    ({"services": [{"name": "web"}]}, "image"),
    ({"services": [{"name": "Web_1", "image": "x"}]}, "spec.services[0].name"),
    ({"services": []}, "spec.services"),
    ({"services": [{"name": "a", "image": "x", "replicas": 21}]}, "replicas"),
    ({"services": [{"name": "a", "image": "x", "dependsOn": ["nope"]}]}, "dependsOn"),
    ({"services": [{"name": "a", "image": "x", "dependsOn": ["a"]}]}, "depend on itself"),
    ({"ttl": "soon", "services": [{"name": "a", "image": "x"}]}, "spec.ttl"),
    ({"services": [{"name": "a", "image": "x",
                    "resources": {"limits": {"memory": "lots"}}}]}, "quantities"),
    ({"services": [{"name": "a", "image": "x", "ports": [{"port": 1}, {"port": 2}]}]},
     "every port needs a name"),
    ({"services": [{"name": "a", "image": "x"}],
      "config": {"secrets": [{"name": "s", "stringData": {"a": "b"},
                              "generate": {"keys": ["k"]}}]}}, "exactly one of"),
    ({"services": [{"name": "a", "image": "x"}], "config": {"secrets": [{"name": "s"}]}},
     "exactly one of"),
])
def test_invalid_manifests_are_rejected_at_apply(
        kubectl: Kubectl, crds: None, spec: dict[str, Any], field: str) -> None:
    proc = apply(kubectl, manifest("invalid-e2e", **spec), check=False)
    assert proc.returncode != 0
    assert field in proc.stderr, proc.stderr
    assert devenv(kubectl, "invalid-e2e") is None


def test_namespace_is_immutable(kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("immutable-e2e", namespace="immutable-one"))
    proc = apply(kubectl, manifest("immutable-e2e", namespace="immutable-two"), check=False)
    assert proc.returncode != 0
    assert "immutable" in proc.stderr
    delete_env(kubectl, "immutable-e2e")


def test_semantic_error_creates_nothing_and_deletes_at_once(
        kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("cycle-e2e", services=[
        {"name": "a", "image": "x", "dependsOn": ["b"]},
        {"name": "b", "image": "x", "dependsOn": ["a"]}]))
    env = wait_phase(kubectl, "cycle-e2e", "Failed", timeout=30)
    cond = condition(env, "Ready")
    assert cond["reason"] == "InvalidSpec"
    assert "cycle" in cond["message"]
    assert get(kubectl, "namespace", "dev-cycle-e2e") is None
    assert any(e["reason"] == "InvalidSpec" for e in events_for(kubectl, "cycle-e2e"))
    started = time.monotonic()
    kubectl("delete", "devenv", "cycle-e2e", "--timeout=20s")
    assert time.monotonic() - started < 10
    assert devenv(kubectl, "cycle-e2e") is None


def test_existing_namespace_is_never_adopted(kubectl: Kubectl, running_operator: Operator) -> None:
    kubectl("create", "namespace", "someone-elses")
    kubectl("create", "configmap", "precious", "-n", "someone-elses", "--from-literal=a=b")
    before = get(kubectl, "namespace", "someone-elses")
    assert before is not None
    apply(kubectl, manifest("conflict-e2e", namespace="someone-elses"))
    env = wait_phase(kubectl, "conflict-e2e", "Failed", timeout=30)
    cond = condition(env, "Ready")
    assert cond["reason"] == "NamespaceConflict"
    assert "someone-elses" in cond["message"]
    after = get(kubectl, "namespace", "someone-elses")
    assert after is not None
    assert after["metadata"].get("labels") == before["metadata"].get("labels")
    assert not after["metadata"].get("ownerReferences")
    assert items(kubectl, "deployments", "-n", "someone-elses") == []
    kubectl("delete", "devenv", "conflict-e2e", "--timeout=30s")
    time.sleep(2)
    still = get(kubectl, "namespace", "someone-elses")
    assert still is not None
    assert not still["metadata"].get("deletionTimestamp")
    assert get(kubectl, "configmap", "precious", "-n", "someone-elses") is not None


def source_secret(name: str, labelled: bool, value: str) -> dict[str, Any]:
    labels = {"shipit.dev/copyable": "true"} if labelled else {}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "platform-e2e", "labels": labels},
            "type": "Opaque", "stringData": {"token": value}}


def test_secret_copies_need_the_owners_opt_in(
        kubectl: Kubectl, running_operator: Operator) -> None:
    kubectl("create", "namespace", "platform-e2e")
    apply(kubectl, [source_secret("shared", True, "v1"), source_secret("private", False, "p")])
    apply(kubectl, manifest("copy-e2e", config={"secrets": [
        {"name": "shared", "copyFrom": {"namespace": "platform-e2e", "name": "shared"}}]}))
    ns = ready(kubectl, "copy-e2e")["status"]["namespace"]

    def copied_token() -> str:
        secret = get(kubectl, "secret", "shared", "-n", ns)
        return base64.b64decode(secret["data"]["token"]).decode() if secret else ""
    assert copied_token() == "v1"

    apply(kubectl, source_secret("shared", True, "v2"))
    wait_for(lambda: copied_token() == "v2", 30, what="the source change to propagate")

    apply(kubectl, manifest("copy-e2e", config={"secrets": [
        {"name": "shared", "copyFrom": {"namespace": "platform-e2e", "name": "shared"}},
        {"name": "private", "copyFrom": {"namespace": "platform-e2e", "name": "private"}},
        {"name": "missing", "copyFrom": {"namespace": "platform-e2e", "name": "nope"}},
    ]}))

    def refused() -> dict[str, Any] | None:
        env = devenv(kubectl, "copy-e2e")
        cond = condition(env, "ConfigSeeded")
        return cond if cond.get("status") == "False" and "nope" in cond["message"] else None
    cond = wait_for(refused, 30, what="ConfigSeeded=False")
    assert cond["reason"] == "SecretNotCopyable"
    assert "platform-e2e/private" in cond["message"]
    # A missing source reads exactly like one not shared: no existence oracle.
    assert ("platform-e2e/private does not exist or is not shared" in cond["message"])
    assert ("platform-e2e/nope does not exist or is not shared" in cond["message"])
    env = devenv(kubectl, "copy-e2e")
    assert env is not None
    assert env["status"]["phase"] == "Failed"
    assert get(kubectl, "secret", "private", "-n", ns) is None
    assert get(kubectl, "secret", "missing", "-n", ns) is None
    reasons = {e["reason"] for e in events_for(kubectl, "copy-e2e")}
    assert "SecretNotCopyable" in reasons

    # The owner revokes the opt-in: the copy is removed, not kept stale.
    apply(kubectl, manifest("copy-e2e", config={"secrets": [
        {"name": "shared", "copyFrom": {"namespace": "platform-e2e", "name": "shared"}}]}))
    ready(kubectl, "copy-e2e")
    kubectl("label", "secret", "shared", "-n", "platform-e2e", "shipit.dev/copyable-")
    wait_for(lambda: get(kubectl, "secret", "shared", "-n", ns) is None, 30,
             what="the copy to be removed after the owner's opt-out")
    reason = condition(devenv(kubectl, "copy-e2e"), "ConfigSeeded").get("reason")
    assert reason == "SecretNotCopyable"
    delete_env(kubectl, "copy-e2e")


def test_delete_waits_for_the_namespace(kubectl: Kubectl, running_operator: Operator) -> None:
    apply(kubectl, manifest("delete-e2e", services=[
        {"name": "web", "image": "nginx:1.27", "replicas": 3, "ports": [{"port": 80}]}]))
    ns = ready(kubectl, "delete-e2e")["status"]["namespace"]
    kubectl("delete", "devenv", "delete-e2e", "--wait=false")
    env = wait_for(lambda: (lambda e: e if e and e["status"].get("phase") == "Terminating"
                            else None)(devenv(kubectl, "delete-e2e")), 20,
                   interval=0.1, what="phase Terminating")
    assert ns in env["status"]["message"]
    assert "shipit.dev/teardown" in env["metadata"]["finalizers"]
    kubectl("wait", "devenv/delete-e2e", "--for=delete", "--timeout=90s")
    # Once the DevEnvironment is gone, so is its namespace: nothing is left behind.
    assert get(kubectl, "namespace", ns) is None


def test_operator_killed_mid_provisioning_converges_without_duplicates(
        kubectl: Kubectl, running_operator: Operator) -> None:
    op = running_operator
    example = yaml.safe_load((ROOT / "examples" / "stack.yaml").read_text())
    example["metadata"]["name"] = "crash-e2e"
    apply(kubectl, example)
    wait_for(lambda: get(kubectl, "namespace", "dev-crash-e2e"), 30, interval=0.05,
             what="the namespace to be created")
    op.stop(kill=True)
    password_before = get(kubectl, "secret", "db", "-n", "dev-crash-e2e")
    op.start()
    env = ready(kubectl, "crash-e2e")
    ns = env["status"]["namespace"]
    assert managed_names(kubectl, "deployments", ns) == {"db", "cache", "api"}
    assert len(items(kubectl, "deployments", "-n", ns)) == 3
    assert len(items(kubectl, "replicasets", "-n", ns)) == 3
    assert managed_names(kubectl, "secrets", ns) == {"db", "api"}
    password_after = get(kubectl, "secret", "db", "-n", ns)
    assert password_after is not None
    if password_before is not None:  # generated once: a restart must not rotate it
        assert password_after["data"] == password_before["data"]
    # And a restart of a settled environment changes nothing at all.
    versions = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                for o in items(kubectl, "deployments", "-n", ns)}
    op.restart()
    time.sleep(3)
    assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in items(kubectl, "deployments", "-n", ns)} == versions
    delete_env(kubectl, "crash-e2e")


def test_delete_while_the_operator_is_down_completes_when_it_returns(
        kubectl: Kubectl, running_operator: Operator) -> None:
    op = running_operator
    apply(kubectl, manifest("down-e2e"))
    ns = ready(kubectl, "down-e2e")["status"]["namespace"]
    op.stop()
    try:
        kubectl("delete", "devenv", "down-e2e", "--wait=false")
        time.sleep(2)
        # The finalizer holds the DevEnvironment (and so nothing is lost) until we return.
        env = devenv(kubectl, "down-e2e")
        assert env is not None
        assert env["metadata"].get("deletionTimestamp")
        assert get(kubectl, "namespace", ns) is not None
    finally:
        op.start()
    kubectl("wait", "devenv/down-e2e", "--for=delete", "--timeout=90s")
    assert get(kubectl, "namespace", ns) is None
