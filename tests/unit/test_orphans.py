"""Namespaces left behind by environments gone without their teardown (issue 26, item 5):
which ones the sweep deletes, and which it never touches."""

from __future__ import annotations

from typing import Any

from devenv_operator import builders, kube, orphans
from tests.unit.fakekube import FakeKube

OURS = {"app.kubernetes.io/managed-by": "devenv-operator", "shipit.dev/environment": "pr-1"}
UID = "shipit.dev/environment-uid"


def namespace(name: str, labels: dict[str, str] | None = None, uid: str | None = "env-uid",
              owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(OURS if labels is None else labels)}
    if uid is not None:
        meta["annotations"] = {UID: uid}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "shipit.dev/v1alpha1",
                                    "kind": "DevEnvironment", "name": "pr-1", "uid": owner}]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def test_the_labels_and_annotation_are_the_ones_the_operator_writes() -> None:
    assert builders.ENVIRONMENT_LABEL == "shipit.dev/environment"
    assert builders.MANAGED_BY_LABEL == "app.kubernetes.io/managed-by"
    built = builders.build_namespace(builders.Env(
        name="pr-1", uid="env-uid", namespace="dev-pr-1",
        spec=builders.validate("pr-1", {"services": [{"name": "w", "image": "nginx"}]},
                               "dev-", None).spec))  # type: ignore[arg-type]
    assert built["metadata"]["annotations"][UID] == "env-uid"
    stripped = {**built, "metadata": {**built["metadata"], "ownerReferences": []}}
    assert builders.orphan_creator(stripped) == ("pr-1", "env-uid")


def test_only_our_namespaces_without_their_owner_reference_are_candidates() -> None:
    assert builders.orphan_creator(namespace("dev-pr-1")) == ("pr-1", "env-uid")
    assert builders.orphan_creator(namespace("dev-pr-1", owner="env-uid")) is None
    assert builders.orphan_creator(namespace("dev-pr-1", uid=None)) is None  # labels alone
    assert builders.orphan_creator(namespace("dev-pr-1", labels={})) is None
    assert builders.orphan_creator(namespace("kube-system")) is None
    assert builders.orphan_creator(namespace("default")) is None
    going = namespace("dev-pr-1")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert builders.orphan_creator(going) is None


def test_the_sweep_deletes_what_a_gone_environment_left_and_nothing_else() -> None:
    api = FakeKube()
    api.seed(kube.NAMESPACE, namespace("dev-gone"))
    api.seed(kube.NAMESPACE, namespace("dev-owned", owner="env-uid"))
    api.seed(kube.NAMESPACE, namespace("dev-foreign", labels={}))
    api.seed(kube.NAMESPACE, namespace("dev-labelled-only", uid=None))
    live = api.seed(kube.DEVENV, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                                  "metadata": {"name": "pr-2"}, "spec": {}})
    api.seed(kube.NAMESPACE, namespace(
        "dev-live", labels={**OURS, "shipit.dev/environment": "pr-2"},
        uid=live["metadata"]["uid"]))
    # A namespace of an earlier environment of a name now re-used: another UID.
    api.seed(kube.NAMESPACE, namespace(
        "dev-reused", labels={**OURS, "shipit.dev/environment": "pr-2"}, uid="older-uid"))
    deleted = orphans.sweep(api.as_kube())
    assert sorted(deleted) == ["dev-gone", "dev-reused"]
    (listed,) = api.served("list")
    assert listed.kind == "Namespace"
    left = {n["metadata"]["name"] for n in api.list(kube.NAMESPACE)
            if not n["metadata"].get("deletionTimestamp")}
    assert left == {"dev-owned", "dev-foreign", "dev-labelled-only", "dev-live"}
    assert orphans.sweep(api.as_kube()) == []  # nothing twice


def test_an_idle_sweep_is_one_list() -> None:
    api = FakeKube()
    api.seed(kube.NAMESPACE, namespace("dev-owned", owner="env-uid"))
    orphans.sweep(api.as_kube())
    assert api.count() == 1
