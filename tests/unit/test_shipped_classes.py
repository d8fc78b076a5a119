"""The shipped classes speak Pod Security levels: what their pods carry satisfies the level
their namespaces enforce (checked here as the Pod Security admission's rules read it; the
e2e tier has the real admission admit them, the real-node tier runs them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv_operator import builders, classes, models

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "classes"
# Pod Security baseline: the capabilities a container may add (everything else, NET_RAW
# among them, is refused); restricted: only NET_BIND_SERVICE, after dropping ALL.
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                         "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP",
                         "SETUID", "SYS_CHROOT"}
RESTRICTED_CAPABILITIES = {"NET_BIND_SERVICE"}


def shipped(name: str) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())
    return found


# The volume types Pod Security restricted allows (baseline: all but hostPath).
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def pod(class_name: str, *services: dict[str, Any]) -> dict[str, Any]:
    policy = classes.DevEnvironmentClassSpec.model_validate(shipped(class_name)["spec"])
    spec = models.DevEnvironmentSpec.model_validate(
        {"services": list(services) or [{"name": "db", "image": "postgres:16"}]})
    env = builders.Env(name="pr-1", uid="u", spec=spec, namespace="dev-pr-1",
                       class_name=class_name, policy=policy)
    built: dict[str, Any] = builders.build_deployment(env, spec.services[0])
    return dict(built["spec"]["template"]["spec"])


def level_problems(level: str, spec: dict[str, Any]) -> list[str]:
    """What Pod Security ``level`` would refuse in this pod spec (the checks that the
    operator's hardening and a service's volumes decide)."""
    problems = []
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)}")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append("host namespaces")
    allowed = BASELINE_CAPABILITIES if level == "baseline" else RESTRICTED_CAPABILITIES
    pod_context = spec.get("securityContext") or {}
    for container in spec["containers"]:
        context = container.get("securityContext") or {}
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - allowed:
            problems.append(f"capabilities {sorted(added - allowed)}")
        if context.get("privileged"):
            problems.append("privileged")
        if level == "restricted":
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append("allowPrivilegeEscalation != false")
            if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
                problems.append("capabilities.drop lacks ALL")
            if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
                problems.append("runAsNonRoot != true")
            if 0 in (context.get("runAsUser"), pod_context.get("runAsUser")):
                problems.append("runAsUser 0")
            seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile")
                       or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"seccomp {seccomp}")
    return problems


@pytest.mark.parametrize("name", ["default", "restricted"])
def test_each_shipped_class_is_a_valid_class_that_says_what_it_is_for(name: str) -> None:
    doc = shipped(name)
    policy = classes.DevEnvironmentClassSpec.model_validate(doc["spec"])
    assert policy.pod_security == ("restricted" if name == "restricted" else "baseline")
    assert policy.description
    assert f"{name}.yaml" in (SHIPPED / "kustomization.yaml").read_text()


def test_only_the_default_class_is_marked_default() -> None:
    marked = {name for name in ("default", "restricted")
              if (shipped(name)["metadata"].get("annotations") or {}).get(
                  classes.DEFAULT_CLASS_ANNOTATION) == "true"}
    assert marked == {"default"}


def test_the_default_class_gives_back_exactly_what_baseline_allows_and_never_net_raw() -> None:
    spec = pod("default")
    context = spec["containers"][0]["securityContext"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == BASELINE_CAPABILITIES
    assert "NET_RAW" not in context["capabilities"]["add"]
    assert context["allowPrivilegeEscalation"] is False
    assert spec["automountServiceAccountToken"] is False
    assert level_problems("baseline", spec) == []


def test_the_restricted_class_passes_restricted_and_the_default_class_would_not() -> None:
    assert level_problems("restricted", pod("restricted")) == []
    assert level_problems("restricted", pod("default"))  # root and capabilities: baseline only
    bound = pod("restricted", {"name": "web", "image": "nginx:1.27", "securityContext": {
        "runAsUser": 101, "capabilities": {"add": ["NET_BIND_SERVICE"]}}})
    assert level_problems("restricted", bound) == []
    stateful = pod("restricted", {"name": "db", "image": "postgres:16", "volumes": [
        {"name": "data", "mountPath": "/var/lib/postgresql/data", "size": "1Gi"},
        {"name": "run", "mountPath": "/var/run/postgresql", "emptyDir": {}}]})
    assert [v["name"] for v in stateful["volumes"]] == ["data", "run"]
    assert level_problems("restricted", stateful) == []  # claims and emptyDirs only


def test_the_restricted_class_refuses_what_restricted_would_refuse_naming_its_needs() -> None:
    policy = classes.DevEnvironmentClassSpec.model_validate(shipped("restricted")["spec"])
    spec = models.DevEnvironmentSpec.model_validate({"services": [
        {"name": "db", "image": "postgres:16", "securityContext": {"runAsUser": 0}},
        {"name": "web", "image": "nginx:1.27",
         "securityContext": {"capabilities": {"add": ["CHOWN"]}}}]})
    refused = classes.refusal(classes.Resolved("restricted", policy), spec,
                              namespace="dev-pr-1", operator_prefix="dev-", owner_count=0)
    assert refused is not None
    reason, message = refused
    assert reason == "PolicyViolation"
    assert "runAsUser" in message
    assert "CHOWN" in message
    assert "numeric non-root USER" in message  # the class's description says what to do


@pytest.mark.parametrize("name", ["default", "restricted"])
def test_a_namespace_names_its_class_for_the_tenant_policies(name: str) -> None:
    policy = classes.DevEnvironmentClassSpec.model_validate(shipped(name)["spec"])
    spec = models.DevEnvironmentSpec.model_validate(
        {"services": [{"name": "db", "image": "postgres:16"}]})
    env = builders.Env(name="pr-1", uid="u", spec=spec, namespace="dev-pr-1",
                       class_name=name, policy=policy)
    labels = builders.build_namespace(env)["metadata"]["labels"]
    assert labels["shipit.dev/class"] == name
    # Nothing reaches out of the cluster, and no pod takes a priority class, unless a class
    # says so.
    assert policy.workload_security.allowed_service_types is None
    assert policy.workload_security.allowed_priority_classes is None
    unclassed = builders.Env(name="pr-1", uid="u", spec=spec, namespace="dev-pr-1",
                             class_name=None, policy=builders.UNCLASSED)
    assert "shipit.dev/class" not in builders.build_namespace(unclassed)["metadata"]["labels"]


def test_the_class_fields_of_the_tenant_policies_are_checked() -> None:
    security = classes.WorkloadSecurity.model_validate(
        {"allowedServiceTypes": ["NodePort"], "allowedPriorityClasses": ["team-batch"]})
    assert security.allowed_service_types == ["NodePort"]
    for bad in ({"allowedServiceTypes": ["ExternalName"]},
                {"allowedPriorityClasses": ["Not_A_Name"]}):
        with pytest.raises(ValueError, match="validation error"):
            classes.WorkloadSecurity.model_validate(bad)
