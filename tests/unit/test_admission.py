"""The admission policies in deploy/admission/ are wired, bound and consistent with the rest
of deploy/ and the operator. What they enforce is tested against a real API server in
tests/e2e/test_ownership.py; this catches a policy left unbound, a binding that only audits,
or an operator identity that drifted from its ServiceAccount.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv_operator.builders import common

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ADMISSION = DEPLOY / "admission"
API = "admissionregistration.k8s.io/v1"
POLICY_KINDS = {"ValidatingAdmissionPolicy": "ValidatingAdmissionPolicyBinding",
                "MutatingAdmissionPolicy": "MutatingAdmissionPolicyBinding"}
ADMINS = ("devenv:admins", "system:masters")
OURS = ("devenv-owner-default", "devenv-ownership", "devenv-operator-confinement")


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def docs() -> list[dict[str, Any]]:
    return [d for path in sorted(ADMISSION.glob("*.yaml")) if path.name != "kustomization.yaml"
            for d in load(path)]


def policy(name: str) -> dict[str, Any]:
    return next(d for d in docs() if d["kind"] in POLICY_KINDS and d["metadata"]["name"] == name)


def expressions(obj: Any) -> list[str]:
    """Every CEL expression (and message expression) in ``obj``."""
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k in ("expression", "messageExpression")
                and isinstance(v, str)] + [e for v in obj.values() for e in expressions(v)]
    if isinstance(obj, list):
        return [e for v in obj for e in expressions(v)]
    return []


def operator_username() -> str:
    (account,) = load(DEPLOY / "serviceaccount.yaml")
    meta = account["metadata"]
    return f"system:serviceaccount:{meta['namespace']}:{meta['name']}"


def test_the_install_includes_every_policy_file() -> None:
    assert "admission" in load(DEPLOY / "kustomization.yaml")[0]["resources"]
    (kustomization,) = load(ADMISSION / "kustomization.yaml")
    files = {p.name for p in ADMISSION.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_every_policy_is_bound_and_denies() -> None:
    found = docs()
    policies = {d["metadata"]["name"]: d for d in found if d["kind"] in POLICY_KINDS}
    bindings = {d["spec"]["policyName"]: d for d in found if d["kind"] in POLICY_KINDS.values()}
    assert set(OURS) <= set(policies)
    assert {d["apiVersion"] for d in found} == {API}
    assert set(bindings) == set(policies)
    for name, binding in bindings.items():
        assert POLICY_KINDS[policies[name]["kind"]] == binding["kind"]
        if binding["kind"] == "ValidatingAdmissionPolicyBinding":
            assert binding["spec"]["validationActions"] == ["Deny"]
    for name in OURS:
        # Bound everywhere: no namespace or object selector that a user could dodge.
        assert set(bindings[name]["spec"]) <= {"policyName", "validationActions"}
        # An error in an expression refuses the request rather than letting it through.
        assert policies[name]["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize("name", ["devenv-ownership", "devenv-operator-confinement",
                                  "devenv-tenant-guardrails", "devenv-tenant-class-rules"])
def test_the_operator_identity_is_its_service_account(name: str) -> None:
    named = {m for e in expressions(policy(name)["spec"])
             for m in re.findall(r"system:serviceaccount:[^'\s:]+:[^'\s:]+", e)}
    assert named == {operator_username()}
    # ... the one deploy/rbac.yaml gives the operator's rights to.
    (binding,) = [d for d in load(DEPLOY / "rbac.yaml") if d["kind"] == "ClusterRoleBinding"]
    (subject,) = binding["subjects"]
    assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == \
        operator_username()


def test_ownership_exempts_exactly_the_admins_and_the_operator() -> None:
    spec = policy("devenv-ownership")["spec"]
    conditions = {c["name"]: c["expression"] for c in spec["matchConditions"]}
    assert set(conditions) == {"not-a-platform-admin", "not-the-operator"}
    assert set(re.findall(r"g == '([^']+)'", conditions["not-a-platform-admin"])) == set(ADMINS)
    assert f"!= '{operator_username()}'" in conditions["not-the-operator"]


def test_ownership_and_the_default_owner_match_the_main_resource_only() -> None:
    for name in ("devenv-ownership", "devenv-owner-default"):
        (rule,) = policy(name)["spec"]["matchConstraints"]["resourceRules"]
        assert rule["apiGroups"] == ["shipit.dev"]
        assert rule["resources"] == ["devenvironments"]  # status is the operator's (RBAC)
    (rule,) = policy("devenv-ownership")["spec"]["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]


def test_ownership_messages_name_the_owner_and_the_admin_group() -> None:
    messages = " ".join(v["messageExpression"]
                        for v in policy("devenv-ownership")["spec"]["validations"])
    for text in ("'only the owner ('", "' (group devenv:admins) may '",
                 "' this DevEnvironment'", "'spec.owner cannot be changed (from '",
                 "'this DevEnvironment has no owner: only a platform admin"):
        assert text in messages, text
    for validation in policy("devenv-ownership")["spec"]["validations"]:
        assert validation["reason"] == "Forbidden"


def test_the_operator_is_confined_to_what_its_label_marks() -> None:
    spec = policy("devenv-operator-confinement")["spec"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["*/*"]  # subresources too
    assert rule["apiGroups"] == ["*"]
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]
    label = f"'{common.MANAGED_BY_LABEL}'"
    value = f"== '{common.MANAGED_BY_VALUE}'"
    checks = [e for e in expressions(spec["variables"]) if label in e]
    assert len(checks) == 2, checks  # the Namespace written or stored; the object's namespace
    assert all(value in e for e in checks)
    for validation in spec["validations"]:
        assert validation["reason"] == "Forbidden"


def test_files_say_what_they_are_for_and_keep_to_100_columns() -> None:
    for path in sorted(ADMISSION.glob("*.yaml")):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("# "), f"{path.name}: no header comment"
        long = [i for i, line in enumerate(lines, 1) if len(line) > 100]
        assert not long, f"{path.name}: lines longer than 100: {long}"


GUARDED = {"devenv-tenant-guardrails", "devenv-tenant-class-rules"}


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_the_tenant_policies_act_only_in_environment_namespaces(name: str) -> None:
    spec = policy(name)["spec"]
    selector = spec["matchConstraints"]["namespaceSelector"]
    assert selector == {"matchLabels": {common.MANAGED_BY_LABEL: common.MANAGED_BY_VALUE}}
    conditions = {c["name"]: c["expression"] for c in spec["matchConditions"]}
    assert f"!= '{operator_username()}'" in conditions["not-the-operator"]
    assert set(re.findall(r"g == '([^']+)'", conditions["not-a-platform-admin"])) == set(ADMINS)
    assert spec["failurePolicy"] == "Fail"
    assert all(v["reason"] == "Forbidden" for v in spec["validations"])


def test_the_tenant_policies_cover_each_finding() -> None:
    rules = {(group, resource): set(rule["operations"])
             for n in GUARDED for rule in policy(n)["spec"]["matchConstraints"]["resourceRules"]
             for group in rule["apiGroups"] for resource in rule["resources"]}
    assert rules[("", "services")] == {"CREATE", "UPDATE"}  # externalIPs, types
    assert rules[("policy", "poddisruptionbudgets")] == {"CREATE", "UPDATE"}
    assert rules[("networking.k8s.io", "networkpolicies")] == {"CREATE", "UPDATE", "DELETE"}
    assert "UPDATE" in rules[("apps", "deployments")]  # containers added
    for workload in [("", "pods"), ("batch", "jobs"), ("batch", "cronjobs"),
                     ("apps", "replicasets"), ("apps", "statefulsets")]:
        assert "CREATE" in rules[workload], workload  # registries, priority classes
    # Pods are created by the cluster's controllers (a Job's, a ReplicaSet's): the class
    # rules do not exempt them.
    conditions = " ".join(c["expression"] for c in
                          policy("devenv-tenant-class-rules")["spec"]["matchConditions"])
    assert "kube-system" not in conditions
    # The class of a namespace is the label the operator sets on it.
    mine = next(v["expression"] for v in policy("devenv-tenant-class-rules")["spec"][
        "variables"] if v["name"] == "mine")
    assert common.CLASS_LABEL in mine
