"""DevEnvironmentClass guardrails on the real apiserver: the class's objects in every
namespace, policy violations that create nothing, hardened workloads, pull Secrets, narrowed
copy consent, Events the owner can read, and a class edit converging its environments.

Each test makes its own class (the session runs without a default one) and removes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    get,
    items,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

WEB = {"name": "web", "image": "registry.example.com/team/web:1"}


USERS_GROUP = "devenv-users"


@pytest.fixture(scope="module")
def ordinary_users(kubectl: Kubectl) -> Iterator[None]:
    """Developers as a platform team sets them up: the project's roles for people
    (deploy/user-roles.yaml: devenv-operator-view and devenv-operator-edit) bound to the
    group devenv-users, never the cluster-wide `edit`."""
    from tests.e2e.helpers import ROOT

    kubectl("apply", "-f", str(ROOT / "deploy" / "user-roles.yaml"))
    bindings = {"e2e-devenv-users-view": "devenv-operator-view",
                "e2e-devenv-users-edit": "devenv-operator-edit"}
    for binding, role in bindings.items():
        kubectl("create", "clusterrolebinding", binding, f"--clusterrole={role}",
                f"--group={USERS_GROUP}")
    try:
        wait_for(lambda: kubectl("auth", "can-i", "create", "devenvironments", "--as=alice",
                                 f"--as-group={USERS_GROUP}", check=False).stdout.strip()
                 == "yes", 30, interval=0.5, what="the user roles to be bound")
        yield
    finally:
        for binding in bindings:
            kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


def as_user(kubectl: Kubectl, user: str, *groups: str) -> Kubectl:
    """kubectl impersonating an ordinary user (in devenv-users, plus ``groups``)."""
    flags = [f"--as={user}", f"--as-group={USERS_GROUP}", *(f"--as-group={g}" for g in groups)]

    def run(*args: str, input: str | None = None, check: bool = True) -> Any:
        return kubectl(*flags, *args, input=input, check=check)
    return run  # type: ignore[return-value]






def test_the_class_objects_are_children_of_every_environment(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any, ordinary_users: None) -> None:
    cls = make_class(podSecurity="baseline", resourceQuota={"hard": {"pods": "10"}},
                     limitRange={"defaultRequest": {"cpu": "50m"}, "max": {"memory": "1Gi"}},
                     networkPolicy="isolated",
                     allowIngressFrom=[{"matchLabels": {"team": "observability"}}],
                     ownerRole="view")
    name = unique("tenant")
    names.append(name)
    ns = f"dev-{name}"
    apply(as_user(kubectl, "alice"), manifest(name, className=cls, owner="alice",
                                              services=[WEB]))
    wait_ready(kubectl, name)
    labels = (get(kubectl, "namespace", ns) or {})["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    quota = get(kubectl, "resourcequota", "devenv-quota", "-n", ns) or {}
    assert quota["spec"]["hard"] == {"pods": "10"}
    limits = get(kubectl, "limitrange", "devenv-limits", "-n", ns) or {}
    assert limits["spec"]["limits"][0]["max"] == {"memory": "1Gi"}
    policy = get(kubectl, "networkpolicy", "devenv-isolation", "-n", ns) or {}
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {}} in peers
    assert {"namespaceSelector": {"matchLabels": {"team": "observability"}}} in peers
    binding = get(kubectl, "rolebinding", "devenv-owner", "-n", ns) or {}
    assert binding["roleRef"]["name"] == "view"
    assert binding["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                                    "name": "alice"}]
    # The owner may read the namespace (logs, Events); a stranger may not.
    assert kubectl("auth", "can-i", "list", "pods", "-n", ns, "--as=alice",
                   check=False).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "list", "pods", "-n", ns, "--as=mallory",
                   check=False).stdout.strip() == "no"
    # Events are recorded where the owner can read them.
    events = items(kubectl, "events", "-n", ns, "--field-selector",
                   f"involvedObject.kind=DevEnvironment,involvedObject.name={name}")
    assert "Ready" in {e["reason"] for e in events}

    # Hand edits are repaired; a class edit converges (quota changed, isolation dropped).
    kubectl("delete", "resourcequota", "devenv-quota", "-n", ns)
    apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                    "metadata": {"name": cls},
                    "spec": {"podSecurity": "privileged",
                             "resourceQuota": {"hard": {"pods": "20"}},
                             "networkPolicy": "none", "ownerRole": "view"}})
    wait_for(lambda: ((get(kubectl, "resourcequota", "devenv-quota", "-n", ns) or {})
                      .get("spec") or {}).get("hard") == {"pods": "20"}, 60,
             what="the quota to follow the class")
    wait_for(lambda: get(kubectl, "networkpolicy", "devenv-isolation", "-n", ns) is None, 60,
             what="the NetworkPolicy to be pruned")
    wait_for(lambda: get(kubectl, "limitrange", "devenv-limits", "-n", ns) is None, 60,
             what="the LimitRange to be pruned")
    assert (get(kubectl, "namespace", ns) or {})["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "privileged"


def test_workloads_are_hardened_unless_the_class_relaxes_it(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    name = unique("hard")
    names.append(name)
    apply(kubectl, manifest(name, services=[WEB]))
    wait_ready(kubectl, name)
    pod = (get(kubectl, "deployment", "web", "-n", f"dev-{name}") or {})["spec"]["template"][
        "spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = pod["containers"][0]["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}

    relaxed = make_class(workloadSecurity={"allowPrivilegeEscalation": True,
                                           "dropAllCapabilities": False})
    loose = unique("loose")
    names.append(loose)
    apply(kubectl, manifest(loose, className=relaxed, services=[WEB],
                            config={"secrets": [{"name": "s", "generate": {"keys": ["k"]}}]}))
    wait_ready(kubectl, loose)
    container = (get(kubectl, "deployment", "web", "-n", f"dev-{loose}") or {})["spec"][
        "template"]["spec"]["containers"][0]
    assert container["securityContext"] == {"allowPrivilegeEscalation": True}

    # Or gives back only what an image needs to start as root and switch user.
    some = make_class(workloadSecurity={"addCapabilities": ["CHOWN", "SETUID", "SETGID"]})
    db = unique("caps")
    names.append(db)
    apply(kubectl, manifest(db, className=some, services=[WEB]))
    wait_ready(kubectl, db)
    container = (get(kubectl, "deployment", "web", "-n", f"dev-{db}") or {})["spec"][
        "template"]["spec"]["containers"][0]
    assert container["securityContext"]["capabilities"] == {
        "drop": ["ALL"], "add": ["CHOWN", "SETUID", "SETGID"]}


@pytest.mark.parametrize(("spec", "rule"), [
    ({"services": [WEB, {**WEB, "name": "api"}, {**WEB, "name": "db"}]}, "limits.maxServices"),
    ({"services": [{**WEB, "replicas": 3}]}, "limits.maxReplicas"),
    ({"services": [{"name": "web", "image": "docker.io/evil/miner:1"}]},
     "images.allowedRegistries"),
    ({"services": [WEB], "config": {"secrets": [{"name": "s", "stringData": {"k": "v"}}]}},
     "secrets.allowLiteral"),
    ({"services": [WEB], "namespace": "team-b-sneaky"}, "namespacePrefix"),
])
def test_a_spec_that_breaks_its_class_creates_nothing_and_names_the_rule(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        spec: dict[str, Any], rule: str, ordinary_users: None) -> None:
    cls = make_class(namespacePrefix="dev-", limits={"maxServices": 2, "maxReplicas": 2},
                     images={"allowedRegistries": ["registry.example.com/team/"]})
    name = unique("viol")
    names.append(name)
    apply(as_user(kubectl, "mallory"), manifest(name, className=cls, **spec))
    env = wait_reason(kubectl, name, "PolicyViolation")
    assert env["status"]["phase"] == "Failed"
    assert rule in condition(env, "Ready")["message"]
    namespace = spec.get("namespace", f"dev-{name}")
    assert get(kubectl, "namespace", namespace) is None


def test_a_missing_class_creates_nothing(kubectl: Kubectl, running_operator: Operator,
                                         names: list[str]) -> None:
    name = unique("nocls")
    names.append(name)
    apply(kubectl, manifest(name, className="no-such-class"))
    env = wait_reason(kubectl, name, "ClassNotFound")
    assert "no-such-class" in condition(env, "Ready")["message"]
    assert get(kubectl, "namespace", f"dev-{name}") is None


def test_the_default_class_applies_when_none_is_named(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any) -> None:
    cls = make_class(limits={"maxServices": 1})
    kubectl("annotate", "devenvironmentclass", cls, "shipit.dev/is-default-class=true")
    name = unique("dflt")
    names.append(name)
    apply(kubectl, manifest(name, services=[WEB, {**WEB, "name": "api"}]))
    env = wait_reason(kubectl, name, "PolicyViolation")
    assert cls in condition(env, "Ready")["message"]


def test_an_owner_gets_at_most_the_class_s_number_of_environments(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any) -> None:
    cls = make_class(limits={"maxEnvironmentsPerOwner": 1})
    first, second = unique("quota1"), unique("quota2")
    names.extend([first, second])
    apply(kubectl, manifest(first, className=cls, owner="carol"))
    wait_ready(kubectl, first)
    apply(kubectl, manifest(second, className=cls, owner="carol"))
    env = wait_reason(kubectl, second, "PolicyViolation")
    assert "maxEnvironmentsPerOwner" in condition(env, "Ready")["message"]
    # Once the first one goes, the second may proceed.
    kubectl("delete", "devenvironment", first, "--wait=true", "--timeout=90s")
    wait_ready(kubectl, second)


@pytest.mark.parametrize(("count_for", "second_allowed"), [("creator", True),
                                                            ("group", False)])
def test_a_group_s_environments_count_for_their_creators_or_for_the_group(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any,
        count_for: str, second_allowed: bool) -> None:
    """Two members each create one environment owned by their group, under a limit of one:
    counted per creator (the default), both run; counted for the group, the second is
    refused. (The creator is the annotation the admission policy stamps; set here as an
    admin.)"""
    cls = make_class(limits={"maxEnvironmentsPerOwner": 1,
                             "groupEnvironmentsCountFor": count_for})
    first, second = unique("grp1"), unique("grp2")
    names.extend([first, second])
    for name, creator in ((first, "alice"), (second, "bob")):
        body = manifest(name, className=cls, owner="group:team-q")
        body["metadata"]["annotations"] = {"shipit.dev/created-by": creator}
        apply(kubectl, body)
        if name == first:
            wait_ready(kubectl, first)
    if second_allowed:
        wait_ready(kubectl, second)
    else:
        env = wait_reason(kubectl, second, "PolicyViolation")
        message = condition(env, "Ready")["message"]
        assert "owner group:team-q already has 1 environments" in message, message
        assert "a group's count for the group" in message


def test_pull_secrets_are_copied_with_consent_and_set_on_every_pod(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    source_ns = unique("registry")
    kubectl("create", "namespace", source_ns)
    try:
        config = json.dumps({"auths": {"registry.example.com": {"auth": "dXNlcjpwdw=="}}})
        apply(kubectl, {"apiVersion": "v1", "kind": "Secret",
                        "type": "kubernetes.io/dockerconfigjson",
                        "metadata": {"name": "pull", "namespace": source_ns,
                                     "labels": {"shipit.dev/copyable": "true"}},
                        "stringData": {".dockerconfigjson": config}})
        cls = make_class(images={"pullSecrets": [{"namespace": source_ns, "name": "pull"}]})
        name = unique("pull")
        names.append(name)
        apply(kubectl, manifest(name, className=cls, services=[WEB]))
        wait_ready(kubectl, name)
        copy = get(kubectl, "secret", "pull", "-n", f"dev-{name}") or {}
        assert copy["type"] == "kubernetes.io/dockerconfigjson"
        pod = (get(kubectl, "deployment", "web", "-n", f"dev-{name}") or {})["spec"][
            "template"]["spec"]
        assert pod["imagePullSecrets"] == [{"name": "pull"}]
    finally:
        kubectl("delete", "namespace", source_ns, "--wait=false")


def test_copy_consent_can_be_narrowed_to_owners_teams_and_classes(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        ordinary_users: None, make_class: Any) -> None:
    cls = make_class()
    source_ns = unique("shared")
    kubectl("create", "namespace", source_ns)
    try:
        apply(kubectl, {"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "token", "namespace": source_ns,
                                     "labels": {"shipit.dev/copyable": "true"},
                                     "annotations": {"shipit.dev/copyable-to":
                                                     f"alice,group:team-a,class:{cls},"
                                                     "dev-ci-*"}},
                        "stringData": {"token": "t0k3n"}})
        seed = {"secrets": [{"name": "token",
                             "copyFrom": {"namespace": source_ns, "name": "token"}}]}
        allowed, team, stranger = unique("alice"), unique("team"), unique("bob")
        names.extend([allowed, team, stranger])
        apply(as_user(kubectl, "alice"), manifest(allowed, owner="alice", config=seed))
        apply(as_user(kubectl, "carl", "team-a"), manifest(team, owner="group:team-a",
                                                            config=seed))
        apply(as_user(kubectl, "bob"), manifest(stranger, owner="bob", config=seed))
        # The review's forgery: a namespace the entry dev-ci-* matches, chosen by the tenant.
        forged, of_class = unique("forged"), unique("classy")
        names.extend([forged, of_class])
        apply(as_user(kubectl, "mallory"), manifest(forged, owner="mallory", config=seed,
                                                    namespace=f"dev-ci-{forged}"))
        apply(as_user(kubectl, "bob"), manifest(of_class, owner="bob", config=seed,
                                                className=cls))
        wait_ready(kubectl, allowed)
        wait_ready(kubectl, team)
        wait_ready(kubectl, of_class)
        wait_reason(kubectl, forged, "SecretNotCopyable")
        assert get(kubectl, "secret", "token", "-n", f"dev-ci-{forged}") is None
        env = wait_reason(kubectl, stranger, "SecretNotCopyable")
        message = condition(env, "ConfigSeeded")["message"]
        assert "does not exist or is not shared" in message
        assert "t0k3n" not in json.dumps(env)
        assert get(kubectl, "secret", "token", "-n", f"dev-{stranger}") is None
        # The same words as for a Secret that does not exist at all.
        missing = unique("missing")
        names.append(missing)
        apply(as_user(kubectl, "bob"), manifest(missing, owner="bob", config={"secrets": [
            {"name": "token", "copyFrom": {"namespace": source_ns, "name": "nope"}}]}))
        other = condition(wait_reason(kubectl, missing, "SecretNotCopyable"), "ConfigSeeded")
        assert other["message"].replace("nope", "token") == message
    finally:
        kubectl("delete", "namespace", source_ns, "--wait=false")


def test_what_cel_can_see_of_the_class_is_refused_at_apply(
        kubectl: Kubectl, running_operator: Operator, names: list[str], make_class: Any) -> None:
    from tests.e2e.helpers import ROOT

    policy = ROOT / "deploy" / "admission" / "class-policy.yaml"
    cls = make_class(namespacePrefix="team-a-", limits={"maxServices": 1, "maxReplicas": 1},
                     images={"allowedRegistries": ["registry.example.com/team/"]})
    kubectl("apply", "-f", str(policy))
    try:
        def refused_with(spec: dict[str, Any], words: str) -> str:
            def attempt() -> str | None:
                proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                               input=json.dumps(manifest(unique("cel"), className=cls,
                                                         **spec)))
                return proc.stderr if words in (proc.stderr or "") else None
            return wait_for(attempt, 30, interval=1, what=f"a refusal naming {words}")

        refused_with({"services": [WEB, {**WEB, "name": "api"}]}, "limits.maxServices")
        refused_with({"services": [{**WEB, "replicas": 2}]}, "limits.maxReplicas")
        refused_with({"services": [{"name": "x", "image": "docker.io/evil:1"}]},
                     "images.allowedRegistries")
        refused_with({"services": [WEB], "namespace": "kube-stuff"}, "team-a-")
        refused_with({"services": [WEB], "config": {"secrets": [
            {"name": "s", "stringData": {"k": "v"}}]}}, "secrets.allowLiteral")
        # A spec within the class is accepted, and other classes' rules do not apply to it.
        make_class(limits={"maxServices": 1, "maxReplicas": 0}, namespacePrefix="other-")
        name = unique("cel-ok")
        names.append(name)
        apply(kubectl, manifest(name, className=cls, namespace=f"team-a-{name}",
                                services=[WEB]))
        wait_ready(kubectl, name)
    finally:
        kubectl("delete", "-f", str(policy), "--ignore-not-found")


@pytest.mark.parametrize("example", ["minimal.yaml", "stack.yaml", "ci-ephemeral.yaml"])
def test_the_examples_work_under_the_shipped_default_class(
        kubectl: Kubectl, running_operator: Operator, names: list[str], example: str) -> None:
    import yaml

    from tests.e2e.helpers import ROOT

    kubectl("apply", "-k", str(ROOT / "deploy" / "classes"))
    try:
        obj = yaml.safe_load((ROOT / "examples" / example).read_text().replace(
            "PR_NUMBER", "1"))
        name = unique(example.split(".")[0])
        obj["metadata"]["name"] = name
        names.append(name)
        apply(kubectl, obj)
        env = wait_ready(kubectl, name)
        ns = env["status"]["namespace"]
        assert get(kubectl, "resourcequota", "devenv-quota", "-n", ns) is not None
        assert get(kubectl, "networkpolicy", "devenv-isolation", "-n", ns) is not None
        assert env["status"]["expiresAt"]  # the class's default TTL applies
    finally:
        kubectl("delete", "-k", str(ROOT / "deploy" / "classes"), "--ignore-not-found")


@pytest.mark.parametrize(("class_name", "level"), [("default", "baseline"),
                                                   ("restricted", "restricted")])
def test_the_pod_security_admission_admits_the_shipped_classes_pods(
        kubectl: Kubectl, running_operator: Operator, names: list[str], class_name: str,
        level: str) -> None:
    """The README's stack under each shipped class: its namespace enforces the class's
    level, and the API server's Pod Security admission lets every pod in (a pod it refused
    would leave its ReplicaSet with FailedCreate and the environment never Ready)."""
    import yaml

    from tests.e2e.helpers import ROOT

    kubectl("apply", "-k", str(ROOT / "deploy" / "classes"))
    try:
        obj = yaml.safe_load((ROOT / "examples" / "stack.yaml").read_text())
        name = unique(f"psa-{class_name}")
        obj["metadata"]["name"] = name
        obj["spec"]["className"] = class_name
        names.append(name)
        apply(kubectl, obj)
        env = wait_ready(kubectl, name)
        ns = env["status"]["namespace"]
        labels = get(kubectl, "namespace", ns)["metadata"]["labels"]  # type: ignore[index]
        assert labels["pod-security.kubernetes.io/enforce"] == level
        pods = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        assert len(pods) == sum(s.get("replicas", 1) for s in obj["spec"]["services"])
        for pod in pods:
            for container in pod["spec"]["containers"]:
                added = set(container["securityContext"]["capabilities"].get("add") or [])
                assert "NET_RAW" not in added
                if level == "restricted":
                    assert container["securityContext"]["runAsNonRoot"] is True
                    assert added <= {"NET_BIND_SERVICE"}
    finally:
        kubectl("delete", "-k", str(ROOT / "deploy" / "classes"), "--ignore-not-found")
