"""Find and remove what a test left in the cluster, so a failing test leaves nothing behind.

A snapshot lists the objects tests create (DevEnvironments, Namespaces, Nodes, Secrets) by
uid. After a test, whatever is new since the snapshot before it is deleted (``remove_later``),
and at the end of the module the sweep waits until it is all gone (``settle``):
DevEnvironments through the operator (which deletes their namespaces), with their
finalizers removed only if the operator does not finish in time. Waiting once per module
instead of after every test saves the namespace controller's fixed 5 s delay before it
starts deleting a namespace, test after test; tests use unique names, so what an earlier
test of the module is still deleting is not in their way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from tests.e2e.helpers import Kubectl

DEVENV = "DevEnvironment"
KINDS = (DEVENV, "Namespace", "Node", "Secret")
RESOURCES = {DEVENV: "devenvironments.shipit.dev", "Namespace": "namespaces",
             "Node": "nodes", "Secret": "secrets"}
MANAGED_BY = ("app.kubernetes.io/managed-by", "devenv-operator")
# How long the operator may take to tear down what a test left, and then how long the
# API server may take once finalizers are removed.
TEARDOWN_TIMEOUT = 60.0
FORCED_TIMEOUT = 30.0


@dataclass(frozen=True)
class Obj:
    kind: str
    name: str
    namespace: str  # "" if cluster-scoped
    uid: str
    owner_uids: frozenset[str]
    labels: tuple[tuple[str, str], ...]
    type: str  # a Secret's type, else ""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Obj:
        meta = raw["metadata"]
        return cls(
            kind=raw["kind"], name=meta["name"], namespace=meta.get("namespace", ""),
            uid=meta["uid"],
            owner_uids=frozenset(o["uid"] for o in meta.get("ownerReferences") or []),
            labels=tuple(sorted((meta.get("labels") or {}).items())),
            type=raw.get("type", ""))

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{where}"


Snapshot = dict[str, Obj]  # by uid

_pending: list[Obj] = []  # deleted by remove_later, not yet seen gone


def snapshot(kubectl: Kubectl, kinds: Collection[str] = KINDS) -> Snapshot:
    """Every object of these kinds, in all namespaces; no DevEnvironments without the CRD."""
    resources = [RESOURCES[k] for k in kinds]
    proc = kubectl("get", ",".join(resources), "-A", "-o", "json", check=False)
    if proc.returncode != 0 and "doesn't have a resource type" in proc.stderr and DEVENV in kinds:
        resources.remove(RESOURCES[DEVENV])
        if not resources:
            return {}
        proc = kubectl("get", ",".join(resources), "-A", "-o", "json", check=False)
    if proc.returncode != 0:
        raise AssertionError(f"listing {resources} failed: {proc.stderr}")
    objs = (Obj.from_json(raw) for raw in json.loads(proc.stdout)["items"])
    return {o.uid: o for o in objs}


def leftovers(before: Snapshot, after: Snapshot) -> list[Obj]:
    """What is in ``after`` but not ``before`` and is the test's to remove.

    Not: a namespace of a DevEnvironment that existed before (the operator made it for
    that one), nor Secrets the cluster or the operator made, nor those in a new namespace
    (they go with it).
    """
    new = [o for uid, o in after.items() if uid not in before]
    new_namespaces = {o.name for o in new if o.kind == "Namespace"}
    old_envs = {uid for uid, o in before.items() if o.kind == DEVENV}
    found = []
    for obj in new:
        if obj.kind == "Namespace" and obj.owner_uids & old_envs:
            continue
        if obj.kind == "Secret" and (
                obj.namespace in new_namespaces or obj.namespace.startswith("kube-")
                or obj.owner_uids or MANAGED_BY in obj.labels
                or obj.type == "kubernetes.io/service-account-token"):
            continue
        found.append(obj)
    return found


def _delete(kubectl: Kubectl, objs: Iterable[Obj]) -> None:
    groups: dict[tuple[str, str], list[str]] = {}
    for obj in objs:
        groups.setdefault((obj.kind, obj.namespace), []).append(obj.name)
    for (kind, namespace), names in sorted(groups.items()):
        where = ["-n", namespace] if namespace else []
        kubectl("delete", RESOURCES[kind], *sorted(names), *where, "--ignore-not-found",
                "--wait=false")


def _remaining(kubectl: Kubectl, objs: Collection[Obj], kinds: Collection[str],
               timeout: float) -> list[Obj]:
    deadline = time.monotonic() + timeout
    while True:
        present = snapshot(kubectl, kinds)
        left = [o for o in objs if o.uid in present]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.5)


def remove(kubectl: Kubectl, objs: Collection[Obj], kinds: Collection[str] = KINDS,
           timeout: float = TEARDOWN_TIMEOUT, forced_timeout: float = FORCED_TIMEOUT
           ) -> None:
    """Delete ``objs`` and wait until they are gone; fail if they are not.

    A DevEnvironment's namespace is the operator's to delete, and deleting it from here
    would race with its teardown: it is only waited for, unless the operator did not
    finish in time (stopped by the test, say). Then the finalizers go and so does the
    namespace.
    """
    if not objs:
        return
    print("leftovers: deleting " + ", ".join(map(str, objs)))
    env_uids = {o.uid for o in objs if o.kind == DEVENV}
    direct = [o for o in objs if not o.owner_uids & env_uids]
    # Nodes last: pods on a node that is gone take a minute or more to finish deleting,
    # and their namespace with them.
    nodes = [o for o in objs if o.kind == "Node"]
    _delete(kubectl, [o for o in direct if o.kind != "Node"])
    left = _remaining(kubectl, [o for o in objs if o.kind != "Node"], kinds, timeout)
    if not left:
        _delete(kubectl, nodes)
        if not _remaining(kubectl, nodes, kinds, forced_timeout):
            return
    print("leftovers: still there after the operator's turn: " + ", ".join(map(str, left)))
    for obj in left:
        if obj.kind == DEVENV:
            kubectl("patch", RESOURCES[DEVENV], obj.name, "--type=merge", "-p",
                    '{"metadata": {"finalizers": null}}', check=False)
    _delete(kubectl, left + nodes)
    left = _remaining(kubectl, left + nodes, kinds, forced_timeout)
    assert not left, f"could not remove what the test left: {', '.join(map(str, left))}"


def remove_later(kubectl: Kubectl, objs: Collection[Obj]) -> None:
    """Start deleting ``objs`` and return; ``settle`` waits until they are gone. A Node
    is removed at once (its pods must be gone first, and nothing else may land on it)."""
    if not objs:
        return
    if any(o.kind == "Node" for o in objs):
        remove(kubectl, objs)
        return
    print("leftovers: deleting " + ", ".join(map(str, objs)))
    env_uids = {o.uid for o in objs if o.kind == DEVENV}
    _delete(kubectl, [o for o in objs if not o.owner_uids & env_uids])
    _pending.extend(objs)


def settle(kubectl: Kubectl) -> None:
    """Wait until everything ``remove_later`` deleted is gone (forcing it as ``remove``
    does if the operator does not finish in time); fail if it cannot be removed."""
    objs = list(_pending)
    _pending.clear()
    if objs:
        remove(kubectl, objs)
