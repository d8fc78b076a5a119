"""The roles deploy/ ships for people and pipelines (deploy/user-roles.yaml) let them do what
the docs say: read DevEnvironments, their classes and templates (view), write DevEnvironments
(edit), and run every `kubectl devenv` command of a pipeline (ci).

``PLUGIN_NEEDS`` is the documented table of what the plugin does with each resource, and
which grant lets it. The tests derive the plugin's API calls from its code (every
``api.<method>(kinds.KIND, ...)`` and ``api.kube.<verb>(kinds.KIND, ...)``), check the table
covers them and nothing else, and check that the CI role grants exactly its part of the
table: a missing verb is a Forbidden in someone's pipeline, an extra one a right nobody
reviewed. tests/e2e/test_ci_role.py runs the documented CI flows with nothing but that role.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv_operator import kinds

ROOT = Path(__file__).resolve().parents[2]
USER_ROLES = ROOT / "deploy" / "user-roles.yaml"
CI_DOC = ROOT / "docs" / "ci.md"
CI_ROLE = "devenv-operator-ci"
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"

Resource = tuple[str, str]  # (apiGroup, resource[/subresource])

# Where each right the plugin needs comes from.
CI = "the devenv-operator-ci ClusterRole"
NAMESPACE = ("the class's ownerRole in the environment's namespace "
             "(the default class: devenv-owner)")
EVERYONE = "every authenticated user (system:basic-user)"

# What `kubectl devenv` does with each resource, and which grant lets it. Update this
# together with deploy/user-roles.yaml and docs/ci.md.
PLUGIN_NEEDS: dict[Resource, tuple[set[str], str]] = {
    # create: get, then server-side apply (patch, and create when new); wait, extend and
    # delete --wait: list and watch by name; extend: patch; delete; list.
    ("shipit.dev", "devenvironments"): (
        {"get", "list", "watch", "create", "patch", "delete"}, CI),
    # render --template.
    ("shipit.dev", "devenvironmenttemplates"): ({"get"}, CI),
    # The failure report and diagnose: in `default` and in the environment's namespace.
    ("", "events"): ({"list"}, CI),
    # The failure report and diagnose: the environment's pods and their containers' logs.
    ("", "pods"): ({"list"}, NAMESPACE),
    ("", "pods/log"): ({"get"}, NAMESPACE),
    # port-forward: the Service's port names (the numbers in the status do without it).
    # port-forward, logs and exec then run kubectl, with the same namespace rights.
    ("", "services"): ({"get"}, NAMESPACE),
    # create and list --mine: who am I.
    ("authentication.k8s.io", "selfsubjectreviews"): ({"create"}, EVERYONE),
}

# Api's own methods (devenv_cli/api.py) -> (resource, verbs); None: the kind is the first
# argument. ``kube.Kube`` methods reached as ``api.kube.<method>`` -> verbs.
API_METHODS: dict[str, tuple[Resource | None, set[str]]] = {
    "get": (None, {"get"}), "list": (None, {"list"}), "watch_one": (None, {"watch"}),
    "logs": (("", "pods/log"), {"get"}),
    "whoami": (("authentication.k8s.io", "selfsubjectreviews"), {"create"}),
}
KUBE_METHODS = {"get": {"get"}, "list": {"list"}, "list_versioned": {"list"},
                "create": {"create"}, "apply": {"patch", "create"}, "patch": {"patch"},
                "delete": {"delete"}, "watch": {"watch"}}


def plugin() -> tuple[str, Path]:
    """The plugin's package name and source directory, wherever it lives."""
    for name in ("devenv_cli", "devenv_operator.cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        return name, Path(str(module.__file__)).parent
    raise AssertionError("no kubectl plugin package found")


def resource_of(kind: kinds.Kind, subresource: str | None = None) -> Resource:
    group = "" if kind.api_version == "v1" else kind.api_version.split("/")[0]
    return group, kind.plural + (f"/{subresource}" if subresource else "")


def kind_constants() -> dict[str, kinds.Kind]:
    """Every ``Kind`` constant the plugin may name: the shared ones and its own."""
    own = importlib.import_module(f"{plugin()[0]}.api")
    return {n: v for module in (kinds, own) for n, v in vars(module).items()
            if isinstance(v, kinds.Kind)}


def _is_api(receiver: str) -> bool:
    return receiver.rsplit(".", 1)[-1] in ("api", "_api", "api_factory()")


def _kind(arg: ast.expr, constants: dict[str, kinds.Kind], where: str) -> kinds.Kind:
    name = arg.attr if isinstance(arg, ast.Attribute) else getattr(arg, "id", None)
    if name not in constants:
        raise AssertionError(f"{where}: cannot tell the kind of {ast.unparse(arg)}: "
                             "extend tests/unit/test_user_rbac.py")
    return constants[name]


def plugin_calls() -> Iterator[tuple[str, Resource, str]]:
    """(where, resource, verb) for every API call in the plugin's source."""
    constants = kind_constants()
    for path in sorted(plugin()[1].rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func, receiver = node.func, ast.unparse(node.func.value)
            where = f"{path.name}:{node.lineno} {ast.unparse(node)[:60]}"
            if receiver.endswith(".kube") and _is_api(receiver.removesuffix(".kube")):
                if func.attr in KUBE_METHODS:
                    kind = _kind(node.args[0], constants, where)
                    for verb in KUBE_METHODS[func.attr]:
                        yield where, resource_of(kind), verb
            elif _is_api(receiver) and func.attr in API_METHODS:
                fixed, verbs = API_METHODS[func.attr]
                resource = fixed or resource_of(_kind(node.args[0], constants, where))
                for verb in verbs:
                    yield where, resource, verb


def roles() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(USER_ROLES.read_text())
            if d and d["kind"] == "ClusterRole"}


def grants(role: dict[str, Any]) -> dict[Resource, set[str]]:
    found: dict[Resource, set[str]] = {}
    for rule in role["rules"]:
        assert not {"resourceNames", "nonResourceURLs"} & set(rule), rule
        assert "*" not in rule["verbs"], rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource), rule
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_the_scan_finds_the_plugin_s_calls() -> None:
    calls = list(plugin_calls())
    assert len(calls) > 15, "the scanner found too few calls; has the plugin's Api changed?"


def test_every_plugin_call_is_covered_by_the_table() -> None:
    missing = [f"{where}: {verb} {res}" for where, res, verb in plugin_calls()
               if verb not in PLUGIN_NEEDS.get(res, (set(), ""))[0]]
    assert not missing, "\n".join(missing)


def test_every_table_verb_is_used_by_the_plugin() -> None:
    used: dict[Resource, set[str]] = {}
    for _, res, verb in plugin_calls():
        used.setdefault(res, set()).add(verb)
    assert used == {res: verbs for res, (verbs, _) in PLUGIN_NEEDS.items()}


def test_the_ci_role_grants_exactly_the_plugin_s_cluster_wide_needs() -> None:
    role = roles()[CI_ROLE]
    assert grants(role) == {res: verbs for res, (verbs, where) in PLUGIN_NEEDS.items()
                            if where == CI}
    # For a binding of its own, to a pipeline's identity: not part of view/edit/admin.
    assert not [k for k in role["metadata"].get("labels", {}) if k.startswith(AGGREGATE)]


def test_the_view_role_reads_environments_classes_and_templates() -> None:
    """`kubectl get devenvclass` and `kubectl devenv render --template` work for developers."""
    granted = grants(roles()["devenv-operator-view"])
    for plural in ("devenvironments", "devenvironmentclasses", "devenvironmenttemplates"):
        assert granted[("shipit.dev", plural)] == {"get", "list", "watch"}, plural
    assert all(verbs <= {"get", "list", "watch"} for verbs in granted.values())


@pytest.mark.parametrize("role", ["devenv-operator-edit", CI_ROLE])
def test_no_user_role_writes_status(role: str) -> None:
    assert not [res for res in grants(roles()[role]) if res[1].endswith("/status")]


def test_the_ci_docs_name_the_ci_role() -> None:
    text = " ".join(CI_DOC.read_text().split())
    assert f"`{CI_ROLE}`" in text
    for sentence in re.split(r"(?<=[.:;])\s", text):
        if "devenv-operator-edit" in sentence:  # only to say why it will not do
            assert "not enough" in sentence, f"docs/ci.md: {sentence}"
    tekton = (ROOT / "examples" / "ci" / "tekton" / "devenv-task.yaml").read_text()
    assert CI_ROLE in tekton
    assert "devenv-operator-edit" not in tekton


OWNER_ROLE = "devenv-owner"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
# Writes that would let an owner widen what the class set up: reach other namespaces,
# open ports on nodes, block drains, grant rights, lift the quota, or run pods of their own.
NEVER_WRITTEN_BY_OWNERS: set[Resource] = {
    ("networking.k8s.io", "networkpolicies"), ("policy", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "roles"),
    ("", "resourcequotas"), ("", "limitranges"), ("", "services"), ("", "pods"),
    ("", "pods/ephemeralcontainers"), ("", "serviceaccounts"), ("", "namespaces"),
    ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
}


def test_the_owner_role_widens_no_isolation() -> None:
    granted = grants(roles()[OWNER_ROLE])
    widening = {res: verbs & WRITES for res, verbs in granted.items()
                if res in NEVER_WRITTEN_BY_OWNERS and verbs & WRITES}
    # Deleting a pod is allowed (its controller makes a new one); creating one is not.
    assert widening == {("", "pods"): {"delete"}}
    assert not [res for res in granted if res[1].endswith("/status")]
    assert "bind" not in {v for verbs in granted.values() for v in verbs}
    assert "escalate" not in {v for verbs in granted.values() for v in verbs}
    # Bound by the operator per namespace, never aggregated into a built-in role.
    labels = roles()[OWNER_ROLE]["metadata"].get("labels", {})
    assert not [k for k in labels if k.startswith(AGGREGATE)]


def test_the_owner_role_lets_a_developer_work() -> None:
    granted = grants(roles()[OWNER_ROLE])
    needs: dict[Resource, set[str]] = {
        ("", "pods"): {"get", "list", "watch", "delete"}, ("", "pods/exec"): {"create"},
        ("", "pods/log"): {"get"}, ("", "pods/portforward"): {"create"},
        ("batch", "jobs"): {"create", "delete", "get", "list"},
        ("", "configmaps"): {"create", "patch", "get"}, ("", "secrets"): {"create", "get"},
        ("", "services"): {"get", "list"}, ("apps", "deployments"): {"get", "list", "patch"},
        ("apps", "deployments/scale"): {"update", "patch"}, ("", "events"): {"list"},
        ("", "persistentvolumeclaims"): {"get", "list"},
    }
    missing = {res: verbs - granted.get(res, set()) for res, verbs in needs.items()
               if verbs - granted.get(res, set())}
    assert not missing
    # What `kubectl devenv` reads in the environment's namespace, the owner may.
    plugin = {res: verbs for res, (verbs, where) in PLUGIN_NEEDS.items() if where == NAMESPACE}
    assert plugin
    assert all(verbs <= granted.get(res, set()) for res, verbs in plugin.items()), plugin


def test_the_shipped_classes_and_the_default_bind_the_owner_role() -> None:
    from devenv_operator.classes import DevEnvironmentClassSpec

    assert DevEnvironmentClassSpec().owner_role == OWNER_ROLE
    for path in sorted((ROOT / "deploy" / "classes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "DevEnvironmentClass":
                assert doc["spec"]["ownerRole"] == OWNER_ROLE, path.name
