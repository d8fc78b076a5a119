"""Ownership of DevEnvironments and the operator's confinement, enforced by the admission
policies in deploy/admission/ against the real API server.

People are impersonated (`kubectl --as=alice --as-group=...`) with the project's roles for
people, devenv-operator-view and devenv-operator-edit (deploy/user-roles.yaml; never the
cluster-wide `edit`): RBAC lets every one of them change and delete every environment, so
each refusal below is the policies' doing. The operator's ServiceAccount is impersonated
too, with its ClusterRole from deploy/rbac.yaml, mostly in server-side dry runs (nothing is
written). It also gets `get` on DevEnvironments here, which the operator does not need (Kopf
watches) but `kubectl patch` does (it reads first).

The module applies the policies and removes them at its end, with everything else it made.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    absent,
    devenv,
    get,
    manifest,
    unique,
    wait_for,
    yaml_docs,
)

pytestmark = pytest.mark.e2e

ADMISSION = ROOT / "deploy" / "admission"
SA = "system:serviceaccount:devenv-system:devenv-operator"
USERS_GROUP = "own-e2e-users"  # bound to the project's user roles by the fixture
MANAGED_BY = "app.kubernetes.io/managed-by=devenv-operator"
CONFINED = f"may only write in namespaces labelled {MANAGED_BY}"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    def args(self) -> list[str]:
        groups = (USERS_GROUP, *self.groups) if self.name != SA else self.groups
        return [f"--as={self.name}", *(f"--as-group={g}" for g in groups)]


ALICE = User("alice", ("team-a",))
BOB = User("bob")
CAROL = User("carol", ("team-a",))
ADMIN = User("dana", ("devenv:admins",))
CI = User("system:serviceaccount:ci:runner")
OPERATOR_SA = User(SA)  # no --as-group: the API server adds a ServiceAccount's groups


def as_user(kubectl: Kubectl, user: User, *args: str,
            body: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    return kubectl(*user.args(), *args, input=json.dumps(body) if body else None, check=False)


def allowed(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def refused(proc: subprocess.CompletedProcess[str], message: str) -> str:
    assert proc.returncode != 0, f"allowed: {proc.stdout}"
    assert "forbidden" in proc.stderr.lower(), proc.stderr
    assert message in proc.stderr, proc.stderr
    return proc.stderr


def create_env(kubectl: Kubectl, user: User, name: str, *flags: str,
               **spec: Any) -> subprocess.CompletedProcess[str]:
    body = manifest(name, **spec)
    body["metadata"]["labels"] = {"own-e2e": name}
    return as_user(kubectl, user, "create", "-o", "json", *flags, "-f", "-", body=body)


def owner_of(kubectl: Kubectl, name: str) -> str | None:
    env = devenv(kubectl, name) or {}
    owner: str | None = env.get("spec", {}).get("owner")
    return owner


def patch_spec(kubectl: Kubectl, user: User, name: str,
               spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return as_user(kubectl, user, "patch", "devenvironment", name, "--type=merge", "-p",
                   json.dumps({"spec": spec}))


# -- set-up --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    legacy: str  # a DevEnvironment from before the policies: no owner
    managed: str  # a namespace labelled managed-by=devenv-operator
    plain: str  # a namespace without it


def _dry_run_create(kubectl: Kubectl, user: User, obj: dict[str, Any]
                    ) -> subprocess.CompletedProcess[str]:
    return as_user(kubectl, user, "create", "--dry-run=server", "-o", "json", "-f", "-",
                   body=obj)


def _active(kubectl: Kubectl) -> bool:
    """Whether all three policies act yet (they reach the admission chain after a moment)."""
    stamped = _dry_run_create(kubectl, ALICE, manifest("own-probe"))
    if stamped.returncode != 0 or json.loads(stamped.stdout)["spec"].get("owner") != "alice":
        return False
    foreign = _dry_run_create(kubectl, ALICE, manifest("own-probe", owner="own-probe-nobody"))
    if "is not you" not in foreign.stderr:
        return False
    confined = _dry_run_create(kubectl, OPERATOR_SA, configmap("own-probe", "default"))
    return CONFINED in confined.stderr


@pytest.fixture(scope="module")
def policies(kubectl: Kubectl, crds: None) -> Iterator[Setup]:
    # An environment made before the policies exist (a session that installed deploy/
    # earlier has them already: they go first, and come back below).
    kubectl("delete", "-k", str(ADMISSION), "--ignore-not-found")
    setup = Setup(legacy=unique("own-legacy"), managed=unique("own-managed"),
                  plain=unique("own-plain"))
    # Removed policies take a moment to stop acting: wait until a create keeps no owner.
    wait_for(lambda: "owner" not in json.loads(kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-",
        input=json.dumps(manifest(setup.legacy))).stdout)["spec"], timeout=30, interval=0.5,
        what="earlier admission policies to stop acting")
    kubectl("create", "-f", "-", input=json.dumps(manifest(setup.legacy)))
    assert owner_of(kubectl, setup.legacy) is None
    # RBAC: the operator's (deploy/rbac.yaml, with its namespace), people's user roles.
    ours = absent(kubectl, yaml_docs("deploy/namespace.yaml") + yaml_docs("deploy/rbac.yaml")
                   + yaml_docs("deploy/user-roles.yaml"))
    bindings = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": role},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": who}]}
        for name, role, kind, who in [(f"{USERS_GROUP}-view", "devenv-operator-view", "Group",
                                       USERS_GROUP),
                                      (f"{USERS_GROUP}-edit", "devenv-operator-edit", "Group",
                                       USERS_GROUP),
                                      ("own-e2e-operator-get", "devenv-operator-view", "User",
                                       SA)]]
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": setup.managed, "labels": dict([MANAGED_BY.split("=")])}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": setup.plain}}]
    made = [*ours, *bindings, *namespaces]
    try:
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                      "items": made}))
        wait_for(lambda: as_user(kubectl, ALICE, "auth", "can-i", "patch",
                                 "devenvironments.shipit.dev").stdout.strip() == "yes",
                 timeout=30, what="the user roles to be bound")
        kubectl("apply", "-k", str(ADMISSION))
        wait_for(lambda: _active(kubectl), timeout=30, interval=0.5,
                 what="the admission policies to act")
        yield setup
    finally:
        kubectl("delete", "-k", str(ADMISSION), "--ignore-not-found")
        kubectl("delete", "devenvironment", setup.legacy, "--ignore-not-found", "--wait=true",
                "--timeout=60s")
        for doc in reversed(made):
            where = ["-n", doc["metadata"]["namespace"]] if "namespace" in doc["metadata"] else []
            kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], *where,
                    "--ignore-not-found", "--wait=false")


def configmap(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}}


# -- ownership: who may create, change and delete ------------------------------------------


def test_alice_cannot_change_bobs_environment(kubectl: Kubectl, policies: Setup) -> None:
    name = unique("own-bob")
    allowed(create_env(kubectl, BOB, name))
    assert owner_of(kubectl, name) == "bob"
    expected = ("only the owner (bob) or a platform admin (group devenv:admins) may change "
                "this DevEnvironment")
    refused(patch_spec(kubectl, ALICE, name, {"ttl": "1h"}), expected)
    refused(as_user(kubectl, ALICE, "label", "devenvironment", name, "stolen=yes"), expected)
    # Not even a finalizer (which would keep bob's environment from going away).
    refused(as_user(kubectl, ALICE, "patch", "devenvironment", name, "--type=merge", "-p",
                    '{"metadata": {"finalizers": ["alice.example/keep"]}}'), expected)
    env = devenv(kubectl, name) or {}
    assert "ttl" not in env["spec"]
    assert "stolen" not in env["metadata"]["labels"]
    # (The operator, when it runs, adds its own; alice's never gets there.)
    assert "alice.example/keep" not in (env["metadata"].get("finalizers") or [])
    # RBAC alone would have let her: the refusals are the policy's.
    assert as_user(kubectl, ALICE, "auth", "can-i", "patch",
                   f"devenvironments.shipit.dev/{name}").stdout.strip() == "yes"
    allowed(patch_spec(kubectl, BOB, name, {"ttl": "1h"}))


def test_alice_cannot_delete_bobs_environment(kubectl: Kubectl, policies: Setup) -> None:
    name = unique("own-bob")
    allowed(create_env(kubectl, BOB, name))
    refused(as_user(kubectl, ALICE, "delete", "devenvironment", name, "--wait=false"),
            "only the owner (bob) or a platform admin (group devenv:admins) may delete this "
            "DevEnvironment")
    # A delete of the whole collection is admitted item by item.
    as_user(kubectl, ALICE, "delete", "--raw",
            f"/apis/shipit.dev/v1alpha1/devenvironments?labelSelector=own-e2e%3D{name}")
    env = devenv(kubectl, name)
    assert env is not None
    assert not env["metadata"].get("deletionTimestamp")
    allowed(as_user(kubectl, BOB, "delete", "devenvironment", name, "--wait=false"))


def test_alice_cannot_create_an_environment_owned_by_someone_else(
        kubectl: Kubectl, policies: Setup) -> None:
    name = unique("own-create")
    stderr = refused(create_env(kubectl, ALICE, name, owner="bob"), "spec.owner bob is not you")
    assert ("set it to your username (alice) or to group:<one of your groups>; only a "
            "platform admin (group devenv:admins) may create a DevEnvironment for someone "
            "else") in stderr
    refused(create_env(kubectl, ALICE, name, owner="group:team-b"),
            "spec.owner group:team-b is not you")
    refused(create_env(kubectl, ALICE, name, owner="team-a"), "spec.owner team-a is not you")
    assert devenv(kubectl, name) is None
    # Herself, or a team she is in.
    allowed(create_env(kubectl, ALICE, name, "--dry-run=server", owner="alice"))
    allowed(create_env(kubectl, ALICE, name, "--dry-run=server", owner="group:team-a"))


def test_an_absent_owner_is_set_to_the_requester(kubectl: Kubectl, policies: Setup) -> None:
    name, empty, ci = unique("own-stamp"), unique("own-stamp"), unique("own-ci")
    created = json.loads(allowed(create_env(kubectl, ALICE, name)))
    assert created["spec"]["owner"] == "alice"
    assert owner_of(kubectl, name) == "alice"
    allowed(create_env(kubectl, ALICE, empty, owner=""))
    assert owner_of(kubectl, empty) == "alice"
    # A CI pipeline's ServiceAccount owns what it creates, under its full username.
    allowed(create_env(kubectl, CI, ci))
    assert owner_of(kubectl, ci) == "system:serviceaccount:ci:runner"
    allowed(patch_spec(kubectl, CI, ci, {"ttl": "1h"}))
    refused(patch_spec(kubectl, ALICE, ci, {"ttl": "2h"}),
            "only the owner (system:serviceaccount:ci:runner) or a platform admin")


def test_a_team_member_can_change_a_team_environment(kubectl: Kubectl,
                                                     policies: Setup) -> None:
    name = unique("own-team")
    allowed(create_env(kubectl, ALICE, name, owner="group:team-a"))
    allowed(patch_spec(kubectl, CAROL, name, {"ttl": "1h"}))
    refused(patch_spec(kubectl, BOB, name, {"ttl": "2h"}),
            "only the owner (group:team-a) or a platform admin (group devenv:admins) may "
            "change this DevEnvironment")
    refused(as_user(kubectl, BOB, "delete", "devenvironment", name, "--wait=false"),
            "only the owner (group:team-a)")
    assert (devenv(kubectl, name) or {})["spec"]["ttl"] == "1h"
    allowed(as_user(kubectl, CAROL, "delete", "devenvironment", name, "--wait=false"))


def test_the_owner_cannot_change_the_owner(kubectl: Kubectl, policies: Setup) -> None:
    name, team = unique("own-keep"), unique("own-keep")
    allowed(create_env(kubectl, BOB, name))
    refused(patch_spec(kubectl, BOB, name, {"owner": "alice"}),
            "spec.owner cannot be changed (from bob to alice) except by a platform admin "
            "(group devenv:admins)")
    allowed(create_env(kubectl, ALICE, team, owner="group:team-a"))
    refused(patch_spec(kubectl, CAROL, team, {"owner": "carol"}),
            "spec.owner cannot be changed (from group:team-a to carol)")
    assert owner_of(kubectl, name) == "bob"
    assert owner_of(kubectl, team) == "group:team-a"


def test_leaving_the_owner_out_of_an_update_keeps_it(kubectl: Kubectl,
                                                     policies: Setup) -> None:
    """A manifest without an owner applied again (server-side, or replaced whole), or a
    patch that removes the owner: it stays."""
    name = unique("own-keep")
    body = manifest(name)
    for ttl in ("1h", "2h"):
        body["spec"]["ttl"] = ttl
        allowed(as_user(kubectl, BOB, "apply", "--server-side", "--field-manager=ci",
                        "-f", "-", body=body))
        assert owner_of(kubectl, name) == "bob"
    current = devenv(kubectl, name) or {}
    del current["spec"]["owner"]
    current["spec"]["ttl"] = "3h"
    allowed(as_user(kubectl, BOB, "replace", "-f", "-", body=current))
    assert owner_of(kubectl, name) == "bob"
    allowed(as_user(kubectl, BOB, "patch", "devenvironment", name, "--type=json", "-p",
                    '[{"op": "remove", "path": "/spec/owner"}]'))
    env = devenv(kubectl, name) or {}
    assert (env["spec"]["owner"], env["spec"]["ttl"]) == ("bob", "3h")


def test_a_platform_admin_can_do_everything(kubectl: Kubectl, policies: Setup) -> None:
    name = unique("own-admin")
    allowed(create_env(kubectl, ADMIN, name, owner="bob"))
    allowed(patch_spec(kubectl, ADMIN, name, {"ttl": "1h"}))
    allowed(patch_spec(kubectl, ADMIN, name, {"owner": "alice"}))
    # The new owner may change it now, the old one no longer.
    allowed(patch_spec(kubectl, ALICE, name, {"ttl": "2h"}))
    refused(patch_spec(kubectl, BOB, name, {"ttl": "3h"}), "only the owner (alice)")
    allowed(as_user(kubectl, ADMIN, "delete", "devenvironment", name, "--wait=false"))
    # With no owner given, an admin's environment is the admin's.
    mine = unique("own-admin")
    allowed(create_env(kubectl, ADMIN, mine))
    assert owner_of(kubectl, mine) == "dana"


def test_an_environment_without_an_owner_is_for_admins_only(kubectl: Kubectl,
                                                            policies: Setup) -> None:
    name = policies.legacy  # created before the policies
    refused(patch_spec(kubectl, ALICE, name, {"ttl": "1h"}),
            "this DevEnvironment has no owner: only a platform admin (group devenv:admins) "
            "may change it")
    refused(as_user(kubectl, ALICE, "delete", "devenvironment", name, "--wait=false"),
            "this DevEnvironment has no owner: only a platform admin (group devenv:admins) "
            "may delete it")
    assert owner_of(kubectl, name) is None
    # An admin adopts it for alice; from then on it is hers.
    allowed(patch_spec(kubectl, ADMIN, name, {"owner": "alice"}))
    allowed(patch_spec(kubectl, ALICE, name, {"ttl": "1h"}))


def test_the_operator_writes_finalizers_and_status_and_deletes(kubectl: Kubectl,
                                                               policies: Setup) -> None:
    name = unique("own-operator")
    allowed(create_env(kubectl, BOB, name))
    # What Kopf does: merge patches of its finalizer and annotations onto the object.
    allowed(as_user(kubectl, OPERATOR_SA, "patch", "devenvironment", name, "--type=merge",
                    "-p", json.dumps({"metadata": {
                        "finalizers": ["shipit.dev/teardown"],
                        "annotations": {"kopf.zalando.org/last-handled-configuration": "{}"}}})))
    allowed(as_user(kubectl, OPERATOR_SA, "patch", "devenvironment", name,
                    "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"message": "written by the operator"}})))
    # The expiry path: the operator deletes it, and its teardown removes the finalizer.
    allowed(as_user(kubectl, OPERATOR_SA, "delete", "devenvironment", name, "--wait=false"))
    env = devenv(kubectl, name)
    assert env is None or env["metadata"].get("deletionTimestamp")
    release = as_user(kubectl, OPERATOR_SA, "patch", "devenvironment", name, "--type=merge",
                      "-p", '{"metadata": {"finalizers": null}}')
    assert release.returncode == 0 or "NotFound" in release.stderr, release.stderr
    wait_for(lambda: devenv(kubectl, name) is None, timeout=30, what=f"{name} to be gone")


# -- the operator's confinement (server-side dry runs as its ServiceAccount) ----------------


def deployment(namespace: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "own-probe"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "own-probe", "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}


def secret(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "own-probe", "namespace": namespace},
            "stringData": {"token": "x"}}


@pytest.mark.parametrize("namespace", ["kube-system", "default", "plain"])
@pytest.mark.parametrize("make", [deployment, secret], ids=["deployment", "secret"])
def test_the_operator_cannot_write_outside_its_namespaces(
        kubectl: Kubectl, policies: Setup, namespace: str, make: Any) -> None:
    namespace = policies.plain if namespace == "plain" else namespace
    obj = make(namespace)
    # Its ClusterRole would let it: the refusal is the policy's.
    plural = obj["kind"].lower() + "s"
    assert as_user(kubectl, OPERATOR_SA, "auth", "can-i", "create", plural, "-n",
                   namespace).stdout.strip() == "yes"
    stderr = refused(_dry_run_create(kubectl, OPERATOR_SA, obj), CONFINED)
    assert f"(and in devenv-system), and {namespace} is not" in stderr


def test_the_operator_writes_in_namespaces_labelled_for_it(kubectl: Kubectl,
                                                           policies: Setup) -> None:
    for obj in (deployment(policies.managed), secret(policies.managed),
                configmap("own-probe", policies.managed)):
        allowed(_dry_run_create(kubectl, OPERATOR_SA, obj))
    # Its own namespace, and Events about DevEnvironments (recorded in `default`).
    allowed(_dry_run_create(kubectl, OPERATOR_SA, configmap("own-probe", "devenv-system")))
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": f"own-probe.{uuid.uuid4().hex[:8]}", "namespace": "default"},
             "involvedObject": {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                                "name": "own-probe"},
             "type": "Normal", "reason": "Probe", "message": "probe",
             "source": {"component": "devenv-operator"}}
    allowed(_dry_run_create(kubectl, OPERATOR_SA, event))


def test_the_creator_is_stamped_and_cannot_be_forged_or_changed(kubectl: Kubectl,
                                                                  policies: Setup,
                                                                  names: list[str]) -> None:
    """shipit.dev/created-by: what a group's environments count against (the per-owner
    limit counts them for the member who created them)."""
    name = unique("own-creator")
    names.append(name)
    body = manifest(name, owner="group:team-a")
    body["metadata"]["annotations"] = {"shipit.dev/created-by": "bob"}  # forged
    allowed(as_user(kubectl, ALICE, "create", "-f", "-", body=body))
    def creator() -> str:
        return ((devenv(kubectl, name) or {})["metadata"].get("annotations") or {}).get(
            "shipit.dev/created-by", "")
    assert creator() == "alice"
    # A team-mate (an owner too) cannot rewrite or remove it.
    for patch in ({"metadata": {"annotations": {"shipit.dev/created-by": "carol-x"}}},
                  {"metadata": {"annotations": {"shipit.dev/created-by": None}}}):
        as_user(kubectl, CAROL, "patch", "devenvironment", name, "--type=merge",
                "-p", json.dumps(patch))
        assert creator() == "alice"


def test_the_operator_gives_a_namespace_only_its_class_s_pod_security_level(
        kubectl: Kubectl, policies: Setup, make_class: Any) -> None:
    """Before: its ServiceAccount could relabel a managed namespace privileged."""
    cls = make_class(podSecurity="restricted")

    def namespace(level: str, class_name: str | None = cls) -> dict[str, Any]:
        labels = {**dict([MANAGED_BY.split("=")]), "pod-security.kubernetes.io/enforce": level}
        if class_name:
            labels["shipit.dev/class"] = class_name
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": unique("own-psa"), "labels": labels}}

    words = f"the Pod Security level of its class {cls} (restricted), not privileged"
    wait_for(lambda: words in _dry_run_create(kubectl, OPERATOR_SA,
                                              namespace("privileged")).stderr,
             timeout=30, interval=0.5, what="the class to reach the policy")
    allowed(_dry_run_create(kubectl, OPERATOR_SA, namespace("restricted")))
    refused(_dry_run_create(kubectl, OPERATOR_SA, namespace("baseline")), "not baseline")
    refused(_dry_run_create(kubectl, OPERATOR_SA, namespace("privileged", None)),
            "it names no class")
    relabel = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    refused(as_user(kubectl, OPERATOR_SA, "patch", "namespace", policies.managed,
                    "--dry-run=server", "--type=merge", "-p", json.dumps(relabel)),
            "it names no class")
    # Anyone else (a platform admin) is not affected.
    allowed(kubectl("create", "--dry-run=server", "-f", "-", check=False,
                    input=json.dumps(namespace("privileged"))))


def test_the_operator_creates_and_deletes_only_labelled_namespaces(
        kubectl: Kubectl, policies: Setup) -> None:
    name = unique("own-ns")
    labelled = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": dict([MANAGED_BY.split("=")])}}
    allowed(_dry_run_create(kubectl, OPERATOR_SA, labelled))
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    refused(_dry_run_create(kubectl, OPERATOR_SA, bare),
            f"may only create Namespaces labelled {MANAGED_BY}, and {name} is not")
    label = ["--type=merge", "-p", '{"metadata": {"labels": {"own-e2e": "x"}}}']
    refused(as_user(kubectl, OPERATOR_SA, "patch", "namespace", policies.plain,
                    "--dry-run=server", *label),
            f"may only change Namespaces labelled {MANAGED_BY}, and {policies.plain} is not")
    refused(as_user(kubectl, OPERATOR_SA, "delete", "namespace", policies.plain,
                    "--dry-run=server"),
            f"may only delete Namespaces labelled {MANAGED_BY}, and {policies.plain} is not")
    # Nor may it label one to take it over.
    refused(as_user(kubectl, OPERATOR_SA, "patch", "namespace", policies.plain,
                    "--dry-run=server", "--type=merge", "-p",
                    json.dumps({"metadata": {"labels": dict([MANAGED_BY.split("=")])}})),
            "may only change Namespaces labelled")
    allowed(as_user(kubectl, OPERATOR_SA, "patch", "namespace", policies.managed,
                    "--dry-run=server", *label))
    allowed(as_user(kubectl, OPERATOR_SA, "delete", "namespace", policies.managed,
                    "--dry-run=server"))
    assert get(kubectl, "namespace", policies.managed) is not None


def test_nobody_else_is_confined(kubectl: Kubectl, policies: Setup) -> None:
    """The confinement applies to the operator's ServiceAccount only: alice, with a Role of
    her own in `default` (the user roles give her none there), may write there."""
    role = unique("own-alice-secrets")
    kubectl("create", "role", role, "-n", "default", "--verb=create", "--resource=secrets")
    try:
        kubectl("create", "rolebinding", role, "-n", "default", f"--role={role}",
                "--user=alice")
        wait_for(lambda: as_user(kubectl, ALICE, "auth", "can-i", "create", "secrets", "-n",
                                 "default").stdout.strip() == "yes",
                 timeout=30, what="alice's Role in default to be bound")
        assert _dry_run_create(kubectl, ALICE, secret("default")).returncode == 0
    finally:
        kubectl("delete", "rolebinding", role, "-n", "default", "--ignore-not-found")
        kubectl("delete", "role", role, "-n", "default", "--ignore-not-found")
    assert kubectl("create", "--dry-run=server", "-f", "-",
                   input=json.dumps(secret("kube-system"))).returncode == 0
