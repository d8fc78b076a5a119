"""What docs/install.md says about deploy/, derived from deploy/ itself.

The installs are built with `kubectl kustomize` (kubectl bundles kustomize; the dev
dependencies put kubectl in the virtualenv), exactly as `kubectl apply -k` would build
them. From the objects they contain come the tables of docs/install.md (what is installed,
what the operator may do, the roles for people and pipelines) and the lowest Kubernetes
version each install needs. test_user_docs.py writes the tables into install.md;
test_install_docs.py fails when they drift.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RBAC = DEPLOY / "rbac.yaml"
USER_ROLES = DEPLOY / "user-roles.yaml"

# Every install the docs offer: directory (relative to the repository) -> what it is for.
INSTALLS = {
    "deploy": "the operator, its API, RBAC and admission policies",
    "deploy-without-mutating-policy": "the same without the MutatingAdmissionPolicies "
                                      "`devenv-owner-default` and `devenv-creator`",
    "deploy/crds": "the three CRDs alone",
    "deploy/admission": "the admission policies alone",
    "deploy/classes": "the `default` DevEnvironmentClass (after `deploy/`)",
    "deploy/monitoring": "ServiceMonitor and Grafana dashboard",
}

# The first Kubernetes minor (1.x) that serves each kind at the apiVersion deploy/ uses.
# None: not a Kubernetes API (another project's CRDs must be installed).
API_MINIMUM: dict[tuple[str, str], int | None] = {
    ("v1", "Namespace"): 0,
    ("v1", "ServiceAccount"): 0,
    ("v1", "Service"): 0,
    ("v1", "ConfigMap"): 0,
    ("apps/v1", "Deployment"): 9,
    ("networking.k8s.io/v1", "NetworkPolicy"): 7,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): 8,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): 8,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): 16,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): 30,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): 30,
    ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy"): 36,
    ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicyBinding"): 36,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): None,
    ("monitoring.coreos.com/v1", "PodMonitor"): None,
}
# What a CRD's schema uses that raised the floor: CEL validation rules (on by default from
# 1.25), their `reason` and `fieldPath` (1.28), and the Kubernetes quantity library in a
# rule (introduced in 1.28, so new rules may use it from 1.29: an API server accepts in new
# expressions only what the release before it knew).
CRD_FEATURES: list[tuple[str, int, str]] = [
    ("x-kubernetes-validations", 25, "CEL validation rules"),
    ("reason/fieldPath", 28, "`reason` and `fieldPath` in CEL rules"),
    ("quantity", 29, "`isQuantity()` in CEL rules: the Kubernetes quantity library"),
]

# Why each object is installed: one line per object of `kubectl kustomize deploy/` (a
# policy or role and its binding of the same name share one).
WHY: dict[tuple[str, str], str] = {
    ("Namespace", "devenv-system"): "where the operator runs; enforces the `restricted` Pod "
                                    "Security level",
    ("CustomResourceDefinition", "devenvironments.shipit.dev"):
        "the DevEnvironment API (deploy/crds/ is a copy of crds/, kept in sync by "
        "`make manifests`)",
    ("CustomResourceDefinition", "devenvironmentclasses.shipit.dev"):
        "DevEnvironmentClass: the platform's policy for environments",
    ("CustomResourceDefinition", "devenvironmenttemplates.shipit.dev"):
        "DevEnvironmentTemplate: stacks with typed parameters",
    ("ServiceAccount", "devenv-operator"): "the operator's identity",
    ("ClusterRole", "devenv-operator"): "exactly the rights the operator uses (below)",
    ("ClusterRole", "devenv-operator-view"): "reading DevEnvironments, classes and templates, "
                                             "for people (below)",
    ("ClusterRole", "devenv-operator-edit"): "writing DevEnvironments, for people (below)",
    ("ClusterRole", "devenv-operator-ci"): "what a pipeline's `kubectl devenv` needs (below)",
    ("ClusterRole", "devenv-owner"): "an environment's owner in its namespace (the shipped "
                                     "classes' ownerRole, below)",
    ("Service", "devenv-operator-metrics"): "`/metrics` on port `metrics` (8080)",
    ("Deployment", "devenv-operator"): "the operator, one replica",
    ("MutatingAdmissionPolicy", "devenv-owner-default"):
        "a DevEnvironment created without `spec.owner` gets the requester's username",
    ("ValidatingAdmissionPolicy", "devenv-ownership"):
        "only the owner (or a platform admin) may change or delete a DevEnvironment",
    ("ValidatingAdmissionPolicy", "devenv-operator-confinement"):
        "the operator may write only in the namespaces it manages",
    ("ValidatingAdmissionPolicy", "devenv-class-rules"):
        "the rules of an environment's class that CEL can check, refused at apply",
    ("MutatingAdmissionPolicy", "devenv-creator"):
        "records who created an environment (a group's count for that member)",
    ("ValidatingAdmissionPolicy", "devenv-operator-pod-security"):
        "the operator may give a namespace only its class's Pod Security level",
    ("ValidatingAdmissionPolicy", "devenv-class-use"):
        "who may choose a class: RBAC `use`, or its allowedUsers/allowedGroups",
    ("ValidatingAdmissionPolicy", "devenv-template-class-use"):
        "choosing a class through a template needs RBAC `use` on it",
    ("ValidatingAdmissionPolicy", "devenv-tenant-guardrails"):
        "an environment's owner may not add externalIPs, PodDisruptionBudgets, NetworkPolicies "
        "or containers to the operator's Deployments",
    ("ValidatingAdmissionPolicy", "devenv-tenant-class-rules"):
        "Service types, priority classes and image registries of every pod in an environment, "
        "per class",
    ("NetworkPolicy", "devenv-operator"): "who may reach the metrics port",
}


def kubectl() -> str:
    venv = Path(sys.prefix) / "bin" / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    assert found, "kubectl not found (install the dev dependencies: uv sync)"
    return found


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k DIRECTORY` would apply."""
    proc = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize {directory} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@functools.cache
def built(install: str) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(ROOT / install))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rules(schema: Any) -> Iterator[dict[str, Any]]:
    """Every x-kubernetes-validations rule in a CRD schema."""
    if isinstance(schema, dict):
        yield from schema.get("x-kubernetes-validations") or []
        for value in schema.values():
            yield from _rules(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _rules(value)


def crd_features(doc: dict[str, Any]) -> list[tuple[int, str]]:
    """(minor, what) for each feature of CRD_FEATURES a CRD uses."""
    rules = list(_rules(doc["spec"]))
    used = {
        "x-kubernetes-validations": bool(rules),
        "reason/fieldPath": any("reason" in r or "fieldPath" in r for r in rules),
        "quantity": any(re.search(r"\b(isQuantity|quantity)\(", r["rule"]) for r in rules),
    }
    return [(minor, what) for key, minor, what in CRD_FEATURES if used[key]]


def requirements(docs: tuple[dict[str, Any], ...]) -> tuple[int, list[str]] | None:
    """The lowest minor an install needs and what sets it; None when it needs another
    project's API (the Prometheus Operator's)."""
    floor, because = 0, []
    crds = built("deploy/crds")
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if doc["apiVersion"].startswith("shipit.dev/"):  # our own API: the CRDs' floor
            found = requirements(crds)
            assert found is not None
            needs = [(found[0], f"its CRD ({'; '.join(found[1])})")]
        else:
            assert key in API_MINIMUM, (
                f"{key}: which Kubernetes minor serves it? Add it to API_MINIMUM in "
                "tests/unit/deploy_tables.py")
            minor = API_MINIMUM[key]
            if minor is None:
                return None
            kind = doc["kind"].removesuffix("Binding")  # a binding needs what its policy does
            needs = [(minor, f"{kind} `{doc['apiVersion']}`")]
            if doc["kind"] == "CustomResourceDefinition":
                needs += crd_features(doc)
        for minor, what in needs:
            if minor > floor:
                floor, because = minor, [what]
            elif minor == floor and what not in because:
                because.append(what)
    return floor, because


def minimums_table() -> str:
    lines = ["| install | what | minimum Kubernetes | set by |", "|---|---|---|---|"]
    for install, what in INSTALLS.items():
        found = requirements(built(install))
        version, because = (("1." + str(found[0]), "; ".join(found[1])) if found
                            else ("any", "needs the Prometheus Operator's CRDs"))
        lines.append(f"| `kubectl apply -k {install}/` | {_cell(what)} | {version} | "
                     f"{_cell(because)} |")
    return "\n".join(lines)


def objects_table() -> str:
    """One row per object of `kubectl kustomize deploy/`, a binding with its policy or role."""
    docs = built("deploy")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    lines = ["| object | name | namespace | why |", "|---|---|---|---|"]
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind.endswith("Binding") and (kind.removesuffix("Binding"), name) in names:
            continue  # on its policy's or role's row
        shown = f"{kind} + {kind}Binding" if (kind + "Binding", name) in names else kind
        assert (kind, name) in WHY, (
            f"{kind} {name}: say why it is installed (WHY in tests/unit/deploy_tables.py)")
        namespace = doc["metadata"].get("namespace")
        lines.append(f"| {shown} | `{name}` | {f'`{namespace}`' if namespace else ''} | "
                     f"{_cell(WHY[(kind, name)])} |")
    return "\n".join(lines)


def _resources(rule: dict[str, Any]) -> str:
    group = ", ".join(f"`{g}`" if g else "core" for g in rule["apiGroups"])
    resources = ", ".join(f"`{r}`" for r in rule["resources"])
    named = rule.get("resourceNames")
    return f"{resources} ({group})" + (
        f", only {', '.join(f'`{n}`' for n in named)}" if named else "")


def commented_rules(path: Path, role: str) -> list[tuple[dict[str, Any], str]]:
    """The rules of ClusterRole ``role`` in ``path``, each with the comment above it."""
    text = path.read_text()
    documents = text.split("\n---\n")
    (source,) = [d for d in documents if re.search(rf"^  name: {re.escape(role)}$", d, re.M)
                 and re.search(r"^kind: ClusterRole$", d, re.M)]
    comments: list[str] = []
    pending: list[str] = []
    in_rules = False
    for line in source.splitlines():
        if line == "rules:":
            in_rules = True
        elif in_rules and line.strip().startswith("#"):
            pending.append(line.strip().lstrip("#").strip())
        elif in_rules and line.startswith("  - apiGroups:"):
            comments.append(" ".join(pending))
            pending = []
    rules = yaml.safe_load(source)["rules"]
    assert len(rules) == len(comments), f"{path.name}: {role}: cannot pair rules and comments"
    return list(zip(rules, comments, strict=True))


def rbac_table() -> str:
    """The operator's ClusterRole, rule by rule, with the comment that says why."""
    lines = ["| resources | verbs | why |", "|---|---|---|"]
    for rule, why in commented_rules(RBAC, "devenv-operator"):
        assert why, f"deploy/rbac.yaml: say why above the rule {rule}"
        lines.append(f"| {_resources(rule)} | {', '.join(rule['verbs'])} | {_cell(why)} |")
    return "\n".join(lines)


def user_roles_table() -> str:
    """The roles for people and pipelines: what each grants, and where it is aggregated."""
    lines = ["| role | grants | aggregated into |", "|---|---|---|"]
    for doc in yaml.safe_load_all(USER_ROLES.read_text()):
        if not doc or doc["kind"] != "ClusterRole":
            continue
        labels = doc["metadata"].get("labels") or {}
        into = [k.rsplit("aggregate-to-", 1)[1] for k, v in labels.items()
                if "aggregate-to-" in k and v == "true"]
        grants = "; ".join(f"{', '.join(r['verbs'])} on {_resources(r)}" for r in doc["rules"])
        lines.append(f"| `{doc['metadata']['name']}` | {_cell(grants)} | "
                     f"{', '.join(f'`{i}`' for i in into) or 'nothing: bind it'} |")
    return "\n".join(lines)


BLOCKS = {"objects": objects_table, "minimums": minimums_table, "rbac": rbac_table,
          "user-roles": user_roles_table}
