"""When a desired object needs an apply, and when the observed one already has it."""

from decimal import Decimal
from typing import Any

import pytest

from devenv_operator import diff

DESIRED = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "a", "namespace": "n", "labels": {"x": "1"}},
    "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "i:1", "resources": {"requests": {"cpu": "1000m"}}}]}}},
}


def observed_from(desired: dict) -> dict:  # type: ignore[type-arg]
    """What the API server returns: our fields, normalised, plus defaults."""
    import copy

    obs = copy.deepcopy(desired)
    obs["metadata"]["uid"] = "u"
    obs["metadata"]["labels"]["extra"] = "added-by-someone"
    container = obs["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["requests"]["cpu"] = "1"
    container["terminationMessagePath"] = "/dev/termination-log"
    return obs


@pytest.mark.parametrize(("text", "value"), [
    ("1", Decimal(1)), ("1000m", Decimal(1)), ("1Gi", Decimal(2**30)),
    ("500M", Decimal(500_000_000)),
    ("0.5", Decimal("0.5")),
])
def test_quantities(text: str, value: Decimal) -> None:
    assert diff.parse_quantity(text) == value


def test_unchanged_object_needs_no_apply() -> None:
    desired = diff.with_hash(DESIRED)
    assert not diff.needs_apply(desired, observed_from(desired))


def test_missing_object_needs_apply() -> None:
    assert diff.needs_apply(diff.with_hash(DESIRED), None)


def test_edited_field_needs_apply() -> None:
    desired = diff.with_hash(DESIRED)
    obs = observed_from(desired)
    obs["spec"]["template"]["spec"]["containers"][0]["image"] = "i:hacked"
    assert diff.needs_apply(desired, obs)


def test_removed_field_is_caught_by_the_hash() -> None:
    old = diff.with_hash(DESIRED)
    new = diff.with_hash({**DESIRED, "metadata": {**DESIRED["metadata"], "labels": {}}})
    assert diff.needs_apply(new, observed_from(old))


def test_secret_data_is_compared_exactly_but_never_hashed() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
              "data": {"k": "c2VjcmV0"}}
    hashed = diff.with_hash(secret)
    other = diff.with_hash({**secret, "data": {"k": "b3RoZXI="}})
    assert hashed["metadata"]["annotations"] == other["metadata"]["annotations"]
    assert diff.needs_apply(other, hashed)
    assert not diff.needs_apply(hashed, hashed)
    extra = {**hashed, "data": {"k": "c2VjcmV0", "more": "eA=="}}
    assert diff.needs_apply(hashed, extra)


def test_containers_someone_else_added_to_a_deployment_are_removed_by_name_last_first() -> None:
    def deployment(containers: list[str], init: list[str] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": [{"name": n} for n in containers]}
        if init is not None:
            spec["initContainers"] = [{"name": n} for n in init]
        return {"kind": "Deployment", "spec": {"template": {"spec": spec}}}

    want = deployment(["web"])
    assert diff.foreign_containers(want, deployment(["web"])) == []
    assert diff.foreign_containers(want, None) == []
    assert diff.foreign_containers({**want, "kind": "Job"}, deployment(["web", "x"])) == []
    assert diff.foreign_containers(want, deployment(["a", "web", "b"], ["i"])) == [
        {"op": "test", "path": "/spec/template/spec/containers/2/name", "value": "b"},
        {"op": "remove", "path": "/spec/template/spec/containers/2"},
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "a"},
        {"op": "remove", "path": "/spec/template/spec/containers/0"},
        {"op": "test", "path": "/spec/template/spec/initContainers/0/name", "value": "i"},
        {"op": "remove", "path": "/spec/template/spec/initContainers/0"},
    ]


def test_a_changed_role_of_a_binding_replaces_it() -> None:
    """roleRef is immutable: an owner binding from before ownerRole devenv-owner (edit) is
    deleted and created again, not refused at every reconcile."""
    def binding(role: str) -> dict[str, Any]:
        return {"kind": "RoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                   "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "User", "name": "alice"}]}

    assert diff.needs_replace(binding("devenv-owner"), binding("edit"))
    assert not diff.needs_replace(binding("devenv-owner"), binding("devenv-owner"))
    assert not diff.needs_replace({**binding("x"), "kind": "ConfigMap"}, binding("y"))
