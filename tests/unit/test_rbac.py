"""The operator's RBAC in deploy/ grants what the code uses, and nothing more.

``OPERATOR_NEEDS`` is the documented table of what the operator does with each resource.
The tests derive the operator's API use from the code (the ``kube.Kind`` constants, every
``api.<verb>(kube.KIND, ...)`` call, the resources Kopf watches) and check that the table
covers it; then they check that deploy/ grants exactly the table: a missing verb is a 403
in production, an extra one is privilege nobody reviewed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from devenv_operator import childkinds, kube
from devenv_operator import main as _handlers  # noqa: F401  (importing it registers them)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SOURCES = ROOT / "operator" / "devenv_operator"

Resource = tuple[str, str]  # (apiGroup, resource[/subresource])

# What the operator does with each resource, and why. Update this together with deploy/.
OPERATOR_NEEDS: dict[Resource, set[str]] = {
    # Kopf: list+watch; merge patches of its finalizer and annotations. Expiry: delete.
    # Orphan sweep: get of the creator a left-behind namespace names.
    ("shipit.dev", "devenvironments"): {"list", "watch", "patch", "delete", "get"},
    ("shipit.dev", "devenvironments/status"): {"patch"},
    # blockOwnerDeletion on the Namespace's ownerReference (OwnerReferencesPermissionEnforcement).
    ("shipit.dev", "devenvironments/finalizers"): {"update"},
    # Orphan sweep: list by our label, once per resync.
    ("", "namespaces"): {"get", "list", "create", "patch", "delete"},
    # Children: list by label, Kopf watch, server-side apply (patch, and create when the
    # object is new), prune.
    ("apps", "deployments"): {"list", "watch", "create", "patch", "delete"},
    ("", "services"): {"list", "watch", "create", "patch", "delete"},
    ("", "configmaps"): {"list", "watch", "create", "patch", "delete"},
    # ... and `get` of copyFrom sources in other namespaces.
    ("", "secrets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"list"},
    # The last lines of a failed job's container, read once for status.jobs[].message.
    ("", "pods/log"): {"get"},
    # Jobs: children like Deployments (a changed job is a new Job; the older one pruned).
    ("batch", "jobs"): {"list", "watch", "create", "patch", "delete"},
    # In the environment's namespace, or `default` before it exists.
    ("", "events"): {"create"},
    # Classes: Kopf's watch, and a get of one it has not brought yet. Their objects in each
    # namespace: list at resync, apply, prune.
    ("shipit.dev", "devenvironmentclasses"): {"get", "list", "watch"},
    # Templates: the same; whether each is valid goes into its status.
    ("shipit.dev", "devenvironmenttemplates"): {"get", "list", "watch"},
    ("shipit.dev", "devenvironmenttemplates/status"): {"patch"},
    ("", "resourcequotas"): {"list", "create", "patch", "delete"},
    ("", "limitranges"): {"list", "create", "patch", "delete"},
    ("networking.k8s.io", "networkpolicies"): {"list", "create", "patch", "delete"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"list", "create", "patch", "delete"},
    # The claims of persistent volumes: list at resync, apply, prune.
    ("", "persistentvolumeclaims"): {"list", "create", "patch", "delete"},
    # Exposed ports: routes like the other watched children; the class's Gateway or
    # IngressClass read while a route is not accepted.
    ("gateway.networking.k8s.io", "httproutes"): {"list", "watch", "create", "patch",
                                                  "delete"},
    ("gateway.networking.k8s.io", "gateways"): {"get"},
    ("networking.k8s.io", "ingresses"): {"list", "watch", "create", "patch", "delete"},
    ("networking.k8s.io", "ingressclasses"): {"get"},
    # Binding an owner to the class's ownerRole (an authorization check, not a call).
    ("rbac.authorization.k8s.io", "clusterroles"): {"bind"},
}
# The only grant limited to named objects: `bind` of the roles the shipped classes name.
NAMED_GRANTS: dict[Resource, set[str]] = {("rbac.authorization.k8s.io", "clusterroles"):
                                          {"devenv-owner"}}

# Kube method -> the RBAC verbs its HTTP request needs. A server-side apply is a PATCH, but
# when the object does not exist yet the API server also authorizes it as a create.
KUBE_VERBS = {"get": {"get"}, "list": {"list"}, "list_versioned": {"list"},
              "create": {"create"},
              "apply": {"patch", "create"}, "patch": {"patch"}, "delete": {"delete"},
              "event": {"create"}, "logs": {"get"}}
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "devenv-operator",
                   "namespace": "devenv-system"}


def resource_of(kind: kube.Kind, subresource: str | None = None) -> Resource:
    group = "" if kind.api_version == "v1" else kind.api_version.split("/")[0]
    return group, kind.plural + (f"/{subresource}" if subresource else "")


def kind_constants() -> dict[str, kube.Kind]:
    return {name: value for name, value in vars(kube).items() if isinstance(value, kube.Kind)}


def _kind_names(arg: ast.expr, constants: dict[str, kube.Kind]) -> list[kube.Kind]:
    """The kinds an argument may be: ``kube.X``, else (a loop variable) any child kind."""
    if isinstance(arg, ast.Attribute) and arg.attr in constants:
        return [constants[arg.attr]]
    if isinstance(arg, ast.Name):
        return [row.kind for row in childkinds.TABLE]
    raise AssertionError(f"cannot tell the kind of {ast.unparse(arg)}: extend test_rbac.py")


def api_calls() -> Iterator[tuple[str, Resource, str]]:
    """(where, resource, verb) for every Kube call in the operator's source."""
    constants = kind_constants()
    for path in sorted(SOURCES.rglob("*.py")):  # the plugin (devenv_cli) runs as its user
        if path.name == "kube.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            where = f"{path.name}:{node.lineno} {ast.unparse(node)[:60]}"
            if (func.attr == "partial" and node.args
                    and isinstance(node.args[0], ast.Attribute)):  # partial(self.api.x, kind, ..)
                func = node.args[0]
                node = ast.Call(func=func, args=node.args[1:], keywords=node.keywords)
            receiver = ast.unparse(func.value)
            if receiver.endswith("api") and func.attr in KUBE_VERBS:
                if func.attr == "event":
                    yield where, resource_of(kube.EVENT), "create"
                    continue
                if func.attr == "logs":  # (namespace, pod, container): a pod's log
                    yield where, resource_of(kube.POD, "log"), "get"
                    continue
                sub = next((k.value for k in node.keywords if k.arg == "subresource"), None)
                subresource = str(sub.value) if isinstance(sub, ast.Constant) else None
                for kind in _kind_names(node.args[0], constants):
                    for verb in KUBE_VERBS[func.attr]:
                        yield where, resource_of(kind, subresource), verb
            elif func.attr in ("apply", "try_apply") and receiver.endswith("applier"):
                for kind in _kind_names(node.args[1], constants):  # (run, kind, obj, ...)
                    for verb in KUBE_VERBS["apply"]:
                        yield where, resource_of(kind), verb


def _kopf_resources(handlers: Iterable[Any]) -> set[Resource]:
    found = set()
    for handler in handlers:
        selector = handler.selector
        assert selector is not None, handler
        found.add((str(selector.group or ""), str(selector.plural or selector.any_name)))
    return found


def kopf_watched() -> set[Resource]:
    registry = kopf.get_default_registry()
    return _kopf_resources([*registry._spawning.get_all_handlers(),
                            *registry._watching.get_all_handlers(),
                            *registry._changing.get_all_handlers()])


def kopf_patched() -> set[Resource]:
    """Resources with daemons or change handlers: Kopf patches finalizers/annotations."""
    registry = kopf.get_default_registry()
    return _kopf_resources([*registry._spawning.get_all_handlers(),
                            *registry._changing.get_all_handlers()])


def deploy_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def granted(kinds: tuple[str, ...]) -> dict[Resource, set[str]]:
    """What deploy/ grants the operator's ServiceAccount through roles of these kinds."""
    docs = deploy_docs()
    bound = {(d["roleRef"]["kind"], d["roleRef"]["name"], d["metadata"].get("namespace"))
             for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
             and SERVICE_ACCOUNT in d["subjects"]}
    grants: dict[Resource, set[str]] = {}
    for doc in docs:
        if doc["kind"] not in kinds:
            continue
        key = (doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace"))
        if key not in bound:
            continue
        for rule in doc["rules"]:
            if "resourceNames" in rule:
                for group in rule["apiGroups"]:
                    for res in rule["resources"]:
                        assert set(rule["resourceNames"]) <= NAMED_GRANTS[(group, res)], rule
            assert "nonResourceURLs" not in rule, rule
            assert "*" not in rule["verbs"], rule
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    assert "*" not in (group, res), rule
                    grants.setdefault((group, res), set()).update(rule["verbs"])
    return grants


def test_every_kind_the_operator_knows_is_in_the_table() -> None:
    known = {resource_of(k) for k in kind_constants().values()}
    # Only an authorization check: no kube.Kind of its own.
    extra = {("rbac.authorization.k8s.io", "clusterroles")}
    # Classes and templates: a Kind for the get of one not watched yet (and templates' status
    # writes); their list/watch is Kopf's (table).
    assert known == {r for r in OPERATOR_NEEDS if "/" not in r[1]} - extra


def test_every_api_call_in_the_code_is_covered_by_the_table() -> None:
    calls = list(api_calls())
    assert len(calls) > 10, "the scanner found too few calls; has kube.Kube changed?"
    missing = [f"{where}: {verb} {res}" for where, res, verb in calls
               if verb not in OPERATOR_NEEDS.get(res, set())]
    assert not missing, "\n".join(missing)


def test_every_table_verb_is_used_by_the_code_or_kopf() -> None:
    used: dict[Resource, set[str]] = {}
    for _, res, verb in api_calls():
        used.setdefault(res, set()).add(verb)
    for res in kopf_watched():
        used.setdefault(res, set()).update({"list", "watch"})
    for res in kopf_patched():
        used.setdefault(res, set()).add("patch")
    # Not API calls but authorization checks: the Namespace's ownerReference, and the
    # RoleBinding to a ClusterRole the operator need not hold itself.
    used.setdefault(("shipit.dev", "devenvironments/finalizers"), set()).add("update")
    used.setdefault(("rbac.authorization.k8s.io", "clusterroles"), set()).add("bind")
    assert used == OPERATOR_NEEDS


def test_kopf_watches_only_what_the_table_lets_it_list_and_watch() -> None:
    watched = kopf_watched()
    assert resource_of(kube.DEVENV) in watched
    assert {resource_of(row.kind) for row in childkinds.WATCHED} <= watched
    for res in watched:
        assert {"list", "watch"} <= OPERATOR_NEEDS[res], res


def test_every_child_kind_in_the_table_gets_the_verbs_its_row_says() -> None:
    """LIST at resync, server-side apply (create and patch); watch if watched; delete if
    pruned. A new row in childkinds.TABLE without its RBAC fails here."""
    for row in childkinds.TABLE:
        wanted = {"list", "create", "patch"} | ({"watch"} if row.watched else set()) | (
            {"delete"} if row.pruned else set())
        assert wanted <= OPERATOR_NEEDS[resource_of(row.kind)], row.name


def test_the_clusterrole_grants_exactly_the_table() -> None:
    assert granted(("ClusterRole",)) == OPERATOR_NEEDS


def test_the_operator_has_no_role_in_default() -> None:
    """Events go to the environment's namespace; nothing needs a Role of its own."""
    assert granted(("Role",)) == {}
    assert not [d for d in deploy_docs() if d["kind"] == "Role"
                and d["metadata"].get("namespace") == "default"]


def test_bind_is_limited_to_the_roles_the_shipped_classes_name() -> None:
    roles = {(d.get("spec") or {}).get("ownerRole", "devenv-owner") for d in deploy_docs()
             if d["kind"] == "DevEnvironmentClass"}
    assert roles, "deploy/ ships no DevEnvironmentClass"
    rule = next(r for d in deploy_docs() if d["kind"] == "ClusterRole"
                and d["metadata"]["name"] == "devenv-operator" for r in d["rules"]
                if "bind" in r["verbs"])
    assert set(rule["resourceNames"]) == roles - {""}


@pytest.mark.parametrize("role", ["devenv-operator-view", "devenv-operator-edit"])
def test_user_roles_aggregate_into_the_builtin_roles(role: str) -> None:
    doc = next(d for d in deploy_docs()
               if d["kind"] == "ClusterRole" and d["metadata"]["name"] == role)
    labels = doc["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    if role.endswith("view"):
        assert labels["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
        assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in doc["rules"])
    else:
        assert "rbac.authorization.k8s.io/aggregate-to-view" not in labels


def test_the_deploy_crd_is_the_generated_one() -> None:
    copy = DEPLOY / "crds" / "devenvironments.shipit.dev.yaml"
    source = ROOT / "crds" / "devenvironments.shipit.dev.yaml"
    assert copy.read_text() == source.read_text(), (
        "deploy/crds is stale: run `make manifests` "
        "(or cp crds/devenvironments.shipit.dev.yaml deploy/crds/)")


def test_the_deployment_is_hardened_and_probed() -> None:
    deployment = next(d for d in deploy_docs() if d["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1  # Kopf standalone: no peering, so never two at once
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"requests", "limits"} <= set(container["resources"])
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env.get("DEVENV_METRICS_PORT") == "8080"
    assert "DEVENV_PEERING" not in env
