"""The service fields real software needs (issue 22, items 2 and 4) on the real apiserver:
liveness and startup probes, imagePullPolicy, workingDir, a per-service securityContext
bounded by the class, and the class's default requests and limits written into the
Deployment.

Each field is validated at apply (a bad value is refused with a message and creates
nothing), is in the CRD the apiserver serves, and is explained by `kubectl explain`. What a
service asks of its class beyond what the class allows is refused at apply by the shipped
class policy and again by the operator (PolicyViolation, nothing created).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

DB = {"name": "db", "image": "postgres:16"}
PROBE = {"tcpSocket": {"port": 5432}, "periodSeconds": 5}


def refused(kubectl: Kubectl, obj: dict[str, Any]) -> str:
    """Apply ``obj`` and return kubectl's error: it must be refused, and nothing made."""
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0, f"accepted: {json.dumps(obj)[:300]}"
    assert get(kubectl, "devenvironment", obj["metadata"]["name"]) is None
    return str(proc.stderr)


def container_of(kubectl: Kubectl, env: str, service: str) -> tuple[dict[str, Any],
                                                                     dict[str, Any]]:
    """(pod spec, first container) of the service's Deployment."""
    pod = (get(kubectl, "deployment", service, "-n", f"dev-{env}") or {})["spec"]["template"][
        "spec"]
    return pod, pod["containers"][0]


def test_the_new_fields_reach_the_deployment_within_the_class(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(
        limitRange={"defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                    "default": {"memory": "512Mi"}, "max": {"cpu": "4"}},
        workloadSecurity={"allowedCapabilities": ["CHOWN", "SETUID", "SETGID"]})
    name = unique("fields")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {**DB, "imagePullPolicy": "Always", "workingDir": "/srv",
         "livenessProbe": PROBE, "startupProbe": {**PROBE, "failureThreshold": 30},
         "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                             "runAsNonRoot": True, "readOnlyRootFilesystem": False,
                             "capabilities": {"add": ["CHOWN", "SETUID"]}},
         "resources": {"limits": {"cpu": "1"}}},
        {"name": "web", "image": "nginx:1.27"},
    ]))
    wait_ready(kubectl, name)
    pod, db = container_of(kubectl, name, "db")
    assert db["imagePullPolicy"] == "Always"
    assert db["workingDir"] == "/srv"
    assert db["livenessProbe"]["tcpSocket"] == {"port": 5432}
    assert db["startupProbe"]["failureThreshold"] == 30
    security = db["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["runAsNonRoot"]) == (
        999, 999, True)
    assert security["readOnlyRootFilesystem"] is False
    assert security["allowPrivilegeEscalation"] is False  # the class's, whatever the service
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "SETUID"]}
    assert pod["securityContext"]["fsGroup"] == 999
    # The class's defaults where the service sets none; its own limit is its request too.
    assert db["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"},
                               "requests": {"cpu": "1", "memory": "64Mi"}}
    _, web = container_of(kubectl, name, "web")
    assert web["resources"] == {"limits": {"cpu": "4", "memory": "512Mi"},
                                "requests": {"cpu": "50m", "memory": "64Mi"}}
    assert "imagePullPolicy" not in json.dumps(
        get(kubectl, "devenvironment", name)["spec"]["services"][1])  # type: ignore[index]


def test_a_request_above_the_class_s_default_limit_names_the_deployment(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(limitRange={"default": {"memory": "512Mi"}})
    name = unique("toobig")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {**DB, "resources": {"requests": {"memory": "1Gi"}}}]))

    def refusal() -> str | None:
        message = str(((get(kubectl, "devenvironment", name) or {}).get("status") or {})
                      .get("message") or "")
        return message if "must be less than or equal to memory limit" in message else None
    message = wait_for(refusal, 60, what="the Deployment's refusal in the status")
    assert "db" in message
    assert get(kubectl, "deployment", "db", "-n", f"dev-{name}") is None


def test_a_class_without_root_makes_every_container_non_root(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(workloadSecurity={"allowRoot": False})
    name = unique("nonroot")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {**DB, "securityContext": {"runAsUser": 999}}, {"name": "web", "image": "nginx:1.27"}]))
    wait_ready(kubectl, name)
    for service in ("db", "web"):
        _, container = container_of(kubectl, name, service)
        assert container["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(("service", "words"), [
    ({"imagePullPolicy": "Sometimes"}, 'supported values: "Always", "IfNotPresent", "Never"'),
    ({"workingDir": "srv"}, "workingDir"),
    ({"livenessProbe": {**PROBE, "successThreshold": 2}}, "successThreshold"),
    ({"startupProbe": {**PROBE, "successThreshold": 3}}, "successThreshold"),
    ({"livenessProbe": {"tcpSocket": {"port": 5432, "host": "db.other-team"}}}, "host"),
    ({"startupProbe": {"tcpSocket": {"port": 5432}, "exec": {"command": ["true"]}}},
     "set exactly one of exec, httpGet, tcpSocket or grpc"),
    ({"securityContext": {"privileged": True}}, "privileged"),
    ({"securityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
    ({"securityContext": {"runAsUser": -1}}, "runAsUser"),
    ({"securityContext": {"fsGroup": 2147483648}}, "fsGroup"),
    ({"securityContext": {"runAsUser": 0, "runAsNonRoot": True}},
     "runAsNonRoot: true contradicts runAsUser: 0"),
    ({"securityContext": {"capabilities": {"add": ["sys_admin"]}}}, "capabilities.add"),
    ({"securityContext": {"capabilities": {"add": ["CAP_SYS_ADMIN"]}}},
     "write a capability without CAP_"),
    ({"securityContext": {"capabilities": {"drop": ["ALL"]}}}, "drop"),
    ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, "seccompProfile"),
])
def test_bad_values_are_refused_at_apply_with_a_message(
        kubectl: Kubectl, running_operator: Operator, service: dict[str, Any],
        words: str) -> None:
    error = refused(kubectl, manifest(unique("bad"), services=[{**DB, **service}]))
    assert words in error, error


FIELDS = ["livenessProbe", "startupProbe", "imagePullPolicy", "workingDir", "securityContext"]
SECURITY = ["runAsUser", "runAsGroup", "fsGroup", "runAsNonRoot", "readOnlyRootFilesystem",
            "capabilities"]


def test_every_new_field_is_in_the_served_crd_and_explained(kubectl: Kubectl) -> None:
    crd = get(kubectl, "crd", "devenvironments.shipit.dev") or {}
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    service = schema["properties"]["spec"]["properties"]["services"]["items"]["properties"]
    assert set(FIELDS) <= set(service)
    assert set(SECURITY) <= set(service["securityContext"]["properties"])
    assert service["imagePullPolicy"]["enum"] == ["Always", "IfNotPresent", "Never"]
    for field in FIELDS:
        text = kubectl("explain", f"devenvironment.spec.services.{field}").stdout
        assert "DESCRIPTION" in text, text
        assert "<empty>" not in text, text
    explained = kubectl("explain", "devenvironment.spec.services.securityContext").stdout
    assert "allowRoot" in explained
    assert "allowedCapabilities" in explained
    add = kubectl("explain", "devenvironment.spec.services.securityContext.capabilities.add")
    assert "allowedCapabilities" in add.stdout
    bounds = kubectl("explain", "devenvironmentclass.spec.workloadSecurity").stdout
    assert "allowedCapabilities" in bounds
    assert "allowRoot" in bounds
    # Templates carry the same fields, descriptions kept.
    tpl = kubectl("explain", "devenvironmenttemplate.spec.services.startupProbe").stdout
    assert "successThreshold" in tpl


# What a service may not ask of a class that allows CHOWN only, and keeps root out.
FORBIDDEN = [
    ({"capabilities": {"add": ["SYS_ADMIN"]}}, "workloadSecurity.allowedCapabilities"),
    ({"capabilities": {"add": ["CHOWN", "NET_RAW"]}}, "workloadSecurity.allowedCapabilities"),
    ({"capabilities": {"add": ["ALL"]}}, "workloadSecurity.allowedCapabilities"),
    ({"runAsUser": 0}, "workloadSecurity.allowRoot"),
    ({"runAsNonRoot": False}, "workloadSecurity.allowRoot"),
]


@pytest.mark.parametrize(("security", "rule"), FORBIDDEN)
def test_the_operator_refuses_more_than_the_class_allows_and_creates_nothing(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        security: dict[str, Any], rule: str) -> None:
    cls = make_class(workloadSecurity={"allowedCapabilities": ["CHOWN"], "allowRoot": False})
    name = unique("beyond")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {"name": "web", "image": "nginx:1.27"}, {**DB, "securityContext": security}]))
    env = wait_reason(kubectl, name, "PolicyViolation")
    message = condition(env, "Ready")["message"]
    assert rule in message, message
    assert cls in message, message
    assert "service db" in message, message
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_the_class_policy_refuses_at_apply_naming_the_class_and_the_field(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    policy = ROOT / "deploy" / "admission" / "class-policy.yaml"
    cls = make_class(workloadSecurity={"allowedCapabilities": ["CHOWN"], "allowRoot": False,
                                       "addCapabilities": ["SETUID"]})
    kubectl("apply", "-f", str(policy))
    try:
        def refused_with(security: dict[str, Any], words: str) -> str:
            def attempt() -> str | None:
                obj = manifest(unique("cel"), className=cls,
                               services=[{**DB, "securityContext": security}])
                proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                               input=json.dumps(obj))
                return proc.stderr if words in (proc.stderr or "") else None
            return wait_for(attempt, 30, interval=1, what=f"a refusal naming {words}")

        for security, rule in FORBIDDEN:
            error = refused_with(security, rule)
            assert f"class {cls}" in error, error
            assert "securityContext" in error, error
            assert "service db" in error, error
        # Within the class (addCapabilities counts too): accepted.
        name = unique("cel-ok")
        names.append(name)
        apply(kubectl, manifest(name, className=cls, services=[
            {**DB, "securityContext": {"runAsUser": 999, "runAsNonRoot": True,
                                       "capabilities": {"add": ["CHOWN", "SETUID"]}}}]))
        wait_ready(kubectl, name)
    finally:
        kubectl("delete", "-f", str(policy), "--ignore-not-found")
