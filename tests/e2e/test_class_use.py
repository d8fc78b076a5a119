"""Class authorization on the real apiserver (issue 26, item 1), tried as tenants with
impersonation: a class is used only by those RBAC grants `use` on it or the class lists
(allowedUsers, allowedGroups); the default class by everyone unless it lists someone; a
template's class needs `use` too, also when an existing environment's templateRef is switched
to it (before: a default-class environment became a privileged one). The effective class is
in status.className.

Developers here hold only the project's roles (deploy/user-roles.yaml), never `edit`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    manifest,
    unique,
    wait_for,
)

pytestmark = pytest.mark.e2e

GROUP = "e2e-class-users"
POLICY = ROOT / "deploy" / "admission" / "class-use.yaml"
ROLES = ("devenv-operator-view", "devenv-operator-edit")


@pytest.fixture(scope="module")
def tenants(kubectl: Kubectl, crds: None) -> Iterator[None]:
    """Developers in GROUP with the project's DevEnvironment roles, and the policy."""
    kubectl("apply", "-f", str(ROOT / "deploy" / "user-roles.yaml"))
    for role in ROLES:
        kubectl(
            "create",
            "clusterrolebinding",
            f"e2e-{role}",
            f"--clusterrole={role}",
            f"--group={GROUP}",
        )
    kubectl("apply", "-f", str(POLICY))
    try:
        yield
    finally:
        kubectl("delete", "-f", str(POLICY), "--ignore-not-found")
        for role in ROLES:
            kubectl("delete", "clusterrolebinding", f"e2e-{role}", "--ignore-not-found")


def as_tenant(kubectl: Kubectl, user: str, *groups: str) -> Callable[..., Any]:
    flags = [f"--as={user}", f"--as-group={GROUP}", *(f"--as-group={g}" for g in groups)]

    def run(*args: str, input: str | None = None, check: bool = True) -> Any:
        return kubectl(*flags, *args, input=input, check=check)

    return run


def refusal(run: Callable[..., Any], obj: dict[str, Any]) -> str:
    """'' when the server would create it, else its refusal."""
    proc = run("create", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
    return "" if proc.returncode == 0 else proc.stderr


def settles_to(run: Callable[..., Any], obj: dict[str, Any], words: str | None) -> str:
    """Wait (policies and their parameters take a moment to be in force) until the create
    is refused naming ``words``, or accepted when ``words`` is None."""

    def attempt() -> str | None:
        error = refusal(run, obj)
        if words is None:
            return "accepted" if error == "" else None
        return error if words in error else None

    return wait_for(
        attempt,
        30,
        interval=0.5,
        what=f"the create {'accepted' if words is None else 'refused: ' + words}",
    )


def env(owner: str, **spec: Any) -> dict[str, Any]:
    return manifest(unique("use"), owner=owner, **spec)


def test_a_tenant_cannot_pick_a_class_nobody_granted_it(
    kubectl: Kubectl, tenants: None, make_class: Any
) -> None:
    privileged = make_class(podSecurity="privileged")
    alice = as_tenant(kubectl, "alice")
    error = settles_to(
        alice, env("alice", className=privileged), f"may not use DevEnvironmentClass {privileged}"
    )
    assert "spec.className" in error, error
    assert "verb use" in error, error
    # RBAC `use` on that very class lets her.
    role = unique("use-role")
    apply(
        kubectl,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {
                    "apiGroups": ["shipit.dev"],
                    "resources": ["devenvironmentclasses"],
                    "resourceNames": [privileged],
                    "verbs": ["use"],
                }
            ],
        },
    )
    kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}", "--user=alice")
    try:
        settles_to(alice, env("alice", className=privileged), None)
        assert "may not use" in refusal(as_tenant(kubectl, "bob"), env("bob", className=privileged))
    finally:
        kubectl("delete", "clusterrolebinding", role, "--ignore-not-found")
        kubectl("delete", "clusterrole", role, "--ignore-not-found")


def test_a_class_names_who_may_use_it(kubectl: Kubectl, tenants: None, make_class: Any) -> None:
    listed = make_class(allowedUsers=["bob"], allowedGroups=["team-db"])
    settles_to(as_tenant(kubectl, "bob"), env("bob", className=listed), None)
    settles_to(as_tenant(kubectl, "carol", "team-db"), env("carol", className=listed), None)
    assert f"may not use DevEnvironmentClass {listed}" in refusal(
        as_tenant(kubectl, "alice"), env("alice", className=listed)
    )
    # A platform admin may use any class.
    assert refusal(as_tenant(kubectl, "root", "devenv:admins"), env("root", className=listed)) == ""


def test_the_default_class_is_everyone_s_unless_it_lists_users(
    kubectl: Kubectl, tenants: None, make_class: Any
) -> None:
    cls = make_class()
    kubectl("annotate", "devenvironmentclass", cls, "shipit.dev/is-default-class=true")
    alice = as_tenant(kubectl, "alice")
    settles_to(alice, env("alice"), None)
    settles_to(alice, env("alice", className=cls), None)
    kubectl(
        "patch",
        "devenvironmentclass",
        cls,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"allowedUsers": ["bob"]}}),
    )
    error = settles_to(alice, env("alice"), f"may not use DevEnvironmentClass {cls}")
    assert "the default class" in error, error
    settles_to(as_tenant(kubectl, "bob"), env("bob"), None)


def template(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "shipit.dev/v1alpha1",
        "kind": "DevEnvironmentTemplate",
        "metadata": {"name": name},
        "spec": {"services": [{"name": "web", "image": "nginx:1.27"}], **spec},
    }


@pytest.fixture
def templates(kubectl: Kubectl) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def make(**spec: Any) -> str:
        name = unique("tpl")
        apply(kubectl, template(name, **spec))
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl("delete", "devenvironmenttemplate", name, "--ignore-not-found")


def test_a_template_s_class_needs_use_also_when_switched_to_later(
    kubectl: Kubectl,
    running_operator: Operator,
    tenants: None,
    make_class: Any,
    templates: Callable[..., str],
    names: list[str],
) -> None:
    base = make_class()
    kubectl("annotate", "devenvironmentclass", base, "shipit.dev/is-default-class=true")
    privileged = make_class(podSecurity="privileged")
    plain, escalating = templates(), templates(className=privileged)
    alice = as_tenant(kubectl, "alice")
    obj = env("alice", templateRef={"name": plain})
    del obj["spec"]["services"]
    settles_to(alice, obj, None)
    name = obj["metadata"]["name"]
    names.append(name)
    alice("create", "-f", "-", input=json.dumps(obj))

    def recorded() -> str | None:
        got = kubectl(
            "get", "devenvironment", name, "-o", "jsonpath={.status.className}", check=False
        ).stdout.strip()
        return got or None

    assert wait_for(recorded, 60, interval=0.5, what="status.className") == base
    # The review's escalation: point templateRef at a template of a privileged class.
    patch = json.dumps({"spec": {"templateRef": {"name": escalating}}})
    proc = alice("patch", "devenvironment", name, "--type=merge", "-p", patch, check=False)
    assert proc.returncode != 0
    assert f"template {escalating} sets DevEnvironmentClass {privileged}" in proc.stderr, (
        proc.stderr
    )
    created = env("alice", templateRef={"name": escalating})
    del created["spec"]["services"]
    assert "may not use" in refusal(alice, created)
    # Its class unchanged, another template is fine.
    other = templates(className=base)
    alice(
        "patch",
        "devenvironment",
        name,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"templateRef": {"name": other}}}),
    )
