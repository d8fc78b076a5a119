"""Specs a careless or hostile user could write, and failures they could cause: each is
refused at apply with a message, or ends in a status with a reason; none wedges a run.

Every test here reproduces a report of the hardening issue against the real apiserver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    events_for,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.e2e

WEB = {"name": "web", "image": "nginx:1.27"}


def refused(kubectl: Kubectl, obj: dict[str, Any]) -> str:
    """Apply ``obj`` and return kubectl's error: it must be refused."""
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0, f"accepted: {json.dumps(obj)[:300]}"
    assert get(kubectl, "devenvironment", obj["metadata"]["name"]) is None
    return str(proc.stderr)




# -- bounded input, refused at apply ------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ttl", "3000000d", "should match"),
    ("ttl", "1s1s1s1s1s", "should match"),
    ("readyTimeout", "999999999m", "should match"),
    ("expiresAt", "0001-01-01T00:00:00Z", "expiresAt must be between"),
    ("expiresAt", "9999-12-31T23:59:59Z", "expiresAt must be between"),
])
def test_out_of_range_lifetimes_are_refused_at_apply(
        kubectl: Kubectl, running_operator: Operator, field: str, value: str,
        message: str) -> None:
    error = refused(kubectl, manifest(unique("bounds"), **{field: value}))
    assert field in error
    assert message in error


def test_a_name_too_long_for_a_label_is_refused_even_with_a_namespace(
        kubectl: Kubectl, running_operator: Operator) -> None:
    name = "n" * 64
    error = refused(kubectl, manifest(name, namespace=unique("long")))
    assert "metadata.name must be at most 63 characters" in error


@pytest.mark.parametrize("key", ["a b", "a/b", "k" * 254])
def test_config_keys_are_validated_at_apply(kubectl: Kubectl, running_operator: Operator,
                                            key: str) -> None:
    error = refused(kubectl, manifest(unique("keys"), config={
        "configMaps": [{"name": "c", "data": {key: "v"}}]}))
    assert "keys must be at most 253" in error


@pytest.mark.parametrize(("probe", "unknown"), [
    ({"httpGet": {"port": 80, "pth": "/healthz"}}, "pth"),
    ({"httpGet": {"port": 80, "host": "10.0.0.1"}}, "host"),
    ({"tcpSocket": {"port": 5432, "host": "db.other-team"}}, "host"),
    ({"httpGet": {"port": 80}, "periodSecond": 5}, "periodSecond"),
])
def test_probe_typos_and_probe_hosts_are_refused_at_apply(
        kubectl: Kubectl, running_operator: Operator, probe: dict[str, Any],
        unknown: str) -> None:
    error = refused(kubectl, manifest(unique("probe"), services=[
        {**WEB, "readinessProbe": probe}]))
    assert "unknown field" in error
    assert unknown in error


def test_a_typo_in_a_field_ref_is_refused_at_apply(kubectl: Kubectl,
                                                   running_operator: Operator) -> None:
    error = refused(kubectl, manifest(unique("fieldref"), services=[{**WEB, "env": [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldpath": "metadata.name"}}}]}]))
    assert "unknown field" in error


def test_a_valid_probe_reaches_the_deployment_as_written(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("probe-ok")
    names.append(name)
    probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 3}
    apply(kubectl, manifest(name, services=[
        {**WEB, "ports": [{"name": "http", "port": 80}], "readinessProbe": probe}]))
    wait_ready(kubectl, name)
    deployment = get(kubectl, "deployment", "web", "-n", f"dev-{name}") or {}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/"
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["periodSeconds"] == 3


# -- refusals by the API server are per object, visible, and do not stop the run -----------


def _denied(kubectl: Kubectl, obj: dict[str, Any], message: str) -> bool:
    """Whether the apiserver denies ``obj`` with ``message`` (a server-side dry run)."""
    proc = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
    return message in (proc.stderr or "")


def _deny(kubectl: Kubectl, name: str, resource: str, expression: str,
          message: str) -> None:
    group = "apps" if resource == "deployments" else ""
    apply(kubectl, [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": name},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{
                      "apiGroups": [group], "apiVersions": ["v1"],
                      "operations": ["CREATE", "UPDATE"], "resources": [resource]}]},
                  "validations": [{"expression": expression, "message": message}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
         "spec": {"policyName": name, "validationActions": ["Deny"]}},
    ])


@pytest.fixture
def denials(kubectl: Kubectl) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        kubectl("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found")
        kubectl("delete", "validatingadmissionpolicy", name, "--ignore-not-found")


def test_a_refused_object_fails_alone_while_the_run_prunes_and_reports_the_generation(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        denials: list[str]) -> None:
    name = unique("refuse")
    names.append(name)
    namespace = f"dev-{name}"
    apply(kubectl, manifest(name, services=[WEB, {"name": "old", "image": "nginx:1.27"}]))
    wait_ready(kubectl, name)
    policy = unique("deny-blocked")
    denials.append(policy)
    _deny(kubectl, policy, "deployments",
          f"!(object.metadata.namespace == '{namespace}' && object.metadata.name == 'blocked')",
          "blocked images are not allowed here")
    # The policy takes a moment to reach the apiserver's admission chain.
    probe = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "blocked", "namespace": namespace},
             "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                 "metadata": {"labels": {"a": "b"}},
                 "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    wait_for(lambda: _denied(kubectl, probe, "not allowed here"), 30, interval=1,
             what="the policy to deny")

    apply(kubectl, manifest(name, services=[WEB, {"name": "blocked", "image": "nginx:1.27"}]))

    def reported() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        status = env.get("status") or {}
        return env if (status.get("observedGeneration") == 2
                       and condition(env, "ServicesReady").get("reason") == "ApplyFailed"
                       ) else None
    env = wait_for(reported, 60, what="ApplyFailed for generation 2")
    message = condition(env, "ServicesReady")["message"]
    assert "blocked" in message
    assert "blocked images are not allowed here" in message
    assert env["status"]["phase"] == "Failed"
    blocked = next(s for s in env["status"]["services"] if s["name"] == "blocked")
    assert (blocked["ready"], blocked["reason"]) == (False, "ApplyFailed")
    # The same run went on: the removed service is pruned, the other one kept.
    wait_for(lambda: get(kubectl, "deployment", "old", "-n", namespace) is None, 30,
             what="the removed service to be pruned")
    assert get(kubectl, "deployment", "web", "-n", namespace) is not None
    assert "ApplyFailed" in {e["reason"] for e in events_for(kubectl, name)}

    # Once the policy goes, the environment recovers by itself.
    kubectl("delete", "validatingadmissionpolicybinding", policy)
    kubectl("delete", "validatingadmissionpolicy", policy)
    wait_ready(kubectl, name, generation=2, timeout=90)


def test_a_namespace_the_api_server_refuses_fails_the_environment_with_the_reason(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        denials: list[str]) -> None:
    name = unique("nsdeny")
    names.append(name)
    policy = unique("deny-ns")
    denials.append(policy)
    _deny(kubectl, policy, "namespaces", f"object.metadata.name != 'dev-{name}'",
          "this namespace name is reserved")
    wait_for(lambda: _denied(kubectl, {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": f"dev-{name}"}}, "reserved"),
             30, interval=1, what="the policy to deny")
    apply(kubectl, manifest(name))

    def failed() -> dict[str, Any] | None:
        env = devenv(kubectl, name) or {}
        return env if condition(env, "Ready").get("reason") == "NamespaceFailed" else None
    env = wait_for(failed, 60, what="NamespaceFailed")
    assert env["status"]["phase"] == "Failed"
    assert "this namespace name is reserved" in condition(env, "NamespaceReady")["message"]
    assert "NamespaceFailed" in {e["reason"] for e in events_for(kubectl, name)}
    assert get(kubectl, "namespace", f"dev-{name}") is None


# -- lifetimes and teardown cannot be escaped -----------------------------------------------


def test_a_prefix_change_never_moves_an_existing_environment(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("prefix")
    names.append(name)
    apply(kubectl, manifest(name))
    wait_ready(kubectl, name)
    with running_operator.settings_applied(DEVENV_NAMESPACE_PREFIX="moved-"):
        # Make the restarted operator reconcile it at once (an annotation change does).
        kubectl("annotate", "devenvironment", name, "example.com/poke=1", "--overwrite")
        newer = unique("prefix-new")
        names.append(newer)
        apply(kubectl, manifest(newer))
        wait_ready(kubectl, newer)
        assert (devenv(kubectl, newer) or {})["status"]["namespace"] == f"moved-{newer}"
        env = wait_ready(kubectl, name)
        assert env["status"]["namespace"] == f"dev-{name}"
        assert get(kubectl, "namespace", f"moved-{name}") is None
        assert get(kubectl, "deployment", "web", "-n", f"dev-{name}") is not None


def test_forged_teardown_progress_and_an_orphaning_delete_still_remove_the_namespace(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("forge")
    names.append(name)
    apply(kubectl, manifest(name))
    wait_ready(kubectl, name)
    forged = json.dumps({"started": "2026-01-01T00:00:00.000000+00:00",
                         "stopped": "2026-01-01T00:00:01.000000+00:00", "success": True,
                         "failure": False, "retries": 1})
    kubectl("annotate", "devenvironment", name, f"kopf.shipit.dev/teardown={forged}",
            f"kopf.shipit.dev/environment={forged}", "--overwrite")
    kubectl("delete", "devenvironment", name, "--cascade=orphan", "--wait=false")
    wait_for(lambda: get(kubectl, "devenvironment", name) is None, 90, interval=1,
             what="the DevEnvironment to go")
    # Gone only after its namespace was: the finalizer held it until then.
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_a_namespace_left_behind_by_a_defeated_teardown_is_deleted_within_the_resync(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    """The owner deletes with --cascade=orphan and removes the teardown finalizer while the
    operator is away: the environment is gone, its namespace (ownerReference stripped)
    stays. Back, the operator deletes it within its resync interval (20s here)."""
    name = unique("orphan")
    names.append(name)
    apply(kubectl, manifest(name))
    wait_ready(kubectl, name)
    namespace = f"dev-{name}"
    foreign = unique("plain")  # labelled like ours but without the creator's UID: kept
    kubectl("create", "namespace", foreign)
    kubectl("label", "namespace", foreign, "app.kubernetes.io/managed-by=devenv-operator",
            f"shipit.dev/environment={name}")
    running_operator.stop(kill=True)
    try:
        kubectl("delete", "devenvironment", name, "--cascade=orphan", "--wait=false")
        kubectl("patch", "devenvironment", name, "--type=merge",
                "-p", json.dumps({"metadata": {"finalizers": None}}))
        wait_for(lambda: get(kubectl, "devenvironment", name) is None, 60, interval=0.5,
                 what="the DevEnvironment to go without its teardown")
        wait_for(lambda: not ((get(kubectl, "namespace", namespace) or {}).get(
            "metadata") or {}).get("ownerReferences"), 60, interval=0.5,
            what="the garbage collector to orphan the namespace")
        assert get(kubectl, "namespace", namespace) is not None  # left behind
    finally:
        running_operator.start()
    started = time.monotonic()
    wait_for(lambda: (get(kubectl, "namespace", namespace) or {}).get("metadata", {}).get(
        "deletionTimestamp") or get(kubectl, "namespace", namespace) is None, 60,
        interval=0.5, what="the operator to delete the left-behind namespace")
    assert time.monotonic() - started < 45  # one resync (20s), with room for a loaded host
    assert "left behind by DevEnvironment" in running_operator.logs()
    kept = get(kubectl, "namespace", foreign) or {}
    assert not kept.get("metadata", {}).get("deletionTimestamp")
    kubectl("delete", "namespace", foreign, "--wait=false")


def test_switching_a_secret_seed_between_kinds_converges(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    source_ns = unique("tls-src")
    kubectl("create", "namespace", source_ns)
    try:
        apply(kubectl, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": "cert", "namespace": source_ns,
                                     "labels": {"shipit.dev/copyable": "true"}},
                        "stringData": {"tls.crt": "not a real cert", "tls.key": "nor a key"}})
        name = unique("seedkind")
        names.append(name)
        namespace = f"dev-{name}"
        apply(kubectl, manifest(name, config={"secrets": [
            {"name": "s", "generate": {"keys": ["password"]}}]}))
        wait_ready(kubectl, name)
        assert (get(kubectl, "secret", "s", "-n", namespace) or {})["type"] == "Opaque"
        apply(kubectl, manifest(name, config={"secrets": [
            {"name": "s", "copyFrom": {"namespace": source_ns, "name": "cert"}}]}))
        wait_ready(kubectl, name, generation=2)
        wait_for(lambda: (get(kubectl, "secret", "s", "-n", namespace) or {}).get("type")
                 == "kubernetes.io/tls", 30, what="the copy with the source's type")
        apply(kubectl, manifest(name, config={"secrets": [
            {"name": "s", "generate": {"keys": ["password"]}}]}))
        wait_ready(kubectl, name, generation=3)
        wait_for(lambda: (get(kubectl, "secret", "s", "-n", namespace) or {}).get("type")
                 == "Opaque", 30, what="a generated Secret again")
    finally:
        kubectl("delete", "namespace", source_ns, "--wait=false")
