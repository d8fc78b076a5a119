"""classes.violations: each rule a DevEnvironmentClass checks, broken and kept at its limit.

Tested through its public signature only (a spec, a class name, the class's policy, the
namespace, the operator's prefix and the owner's count), so its inside can change freely.
"""

from __future__ import annotations

from typing import Any

import pytest

from devenv_operator import classes, models
from devenv_operator.classes import DevEnvironmentClassSpec, Violation
from devenv_operator.steps.admit import counted_as

CLASS = "team"
PREFIX = "dev-"


def spec(**fields: Any) -> models.DevEnvironmentSpec:
    fields.setdefault("services", [{"name": "web", "image": "registry.example.com/web:1"}])
    return models.DevEnvironmentSpec.model_validate(fields)


def policy(**fields: Any) -> DevEnvironmentClassSpec:
    return DevEnvironmentClassSpec.model_validate(fields)


def services(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"name": f"s{i}", "image": "registry.example.com/app:1", **fields}
            for i in range(count)]


def broken(the_spec: models.DevEnvironmentSpec, the_policy: DevEnvironmentClassSpec, *,
           namespace: str = "dev-pr-1", owner_count: int = 0) -> list[Violation]:
    return classes.violations(the_spec, CLASS, the_policy, namespace=namespace,
                              operator_prefix=PREFIX, owner_count=owner_count)


def rules(found: list[Violation]) -> list[str]:
    return [v.rule for v in found]


STRICT = {
    "namespacePrefix": "team-",
    "limits": {"maxServices": 3, "maxReplicas": 2, "maxEnvironmentsPerOwner": 2},
    "images": {"allowedRegistries": ["registry.example.com/"]},
    "secrets": {"allowLiteral": False},
}


def test_a_spec_within_every_limit_of_a_strict_class_breaks_nothing() -> None:
    at_limits = spec(namespace="team-pr-1", owner="alice",
                     services=services(3, replicas=2),
                     config={"secrets": [{"name": "db", "generate": {"keys": ["password"]}},
                                         {"name": "pull", "copyFrom": {
                                             "namespace": "platform", "name": "registry"}}]})
    assert broken(at_limits, policy(**STRICT), namespace="team-pr-1", owner_count=1) == []


def test_a_class_without_rules_lets_a_plain_spec_through() -> None:
    assert broken(spec(), policy()) == []


# -- the namespace ----------------------------------------------------------------------------


@pytest.mark.parametrize("reserved", ["default", "kube-system", "kube-public",
                                      "kube-node-lease", "kube-anything"])
def test_a_reserved_namespace_is_refused_whatever_the_prefix(reserved: str) -> None:
    found = broken(spec(namespace=reserved), policy(namespacePrefix="team-"),
                   namespace=reserved)
    assert found == [Violation("namespacePrefix", f"namespace {reserved} is reserved")]


def test_spec_namespace_must_start_with_the_class_prefix() -> None:
    found = broken(spec(namespace="dev-pr-1"), policy(namespacePrefix="team-"),
                   namespace="dev-pr-1")
    assert rules(found) == ["namespacePrefix"]
    assert "dev-pr-1" in found[0].message
    assert "'team-'" in found[0].message
    assert CLASS in found[0].message
    assert broken(spec(namespace="team-pr-1"), policy(namespacePrefix="team-"),
                  namespace="team-pr-1") == []


def test_without_a_class_prefix_spec_namespace_must_start_with_the_operators() -> None:
    found = broken(spec(namespace="other-pr-1"), policy(), namespace="other-pr-1")
    assert rules(found) == ["namespacePrefix"]
    assert f"{PREFIX!r}" in found[0].message
    assert broken(spec(namespace="dev-other"), policy(), namespace="dev-other") == []


def test_a_derived_namespace_is_not_held_to_the_prefix() -> None:
    # Without spec.namespace the operator derives it; only reserved names are refused.
    assert broken(spec(), policy(namespacePrefix="team-"), namespace="dev-pr-1") == []


# -- sizes ------------------------------------------------------------------------------------


def test_more_services_than_the_class_allows_is_refused() -> None:
    limit = policy(limits={"maxServices": 2})
    assert broken(spec(services=services(2)), limit) == []
    found = broken(spec(services=services(3)), limit)
    assert found == [Violation("limits.maxServices", f"3 services; class {CLASS} allows 2")]


def test_every_service_with_more_replicas_than_allowed_is_named() -> None:
    limit = policy(limits={"maxReplicas": 2})
    many = spec(services=[{"name": "api", "image": "a:1", "replicas": 3},
                          {"name": "db", "image": "d:1", "replicas": 2},
                          {"name": "web", "image": "w:1", "replicas": 5}])
    found = broken(many, limit)
    assert rules(found) == ["limits.maxReplicas", "limits.maxReplicas"]
    assert "service api asks for 3 replicas" in found[0].message
    assert "service web asks for 5 replicas" in found[1].message
    assert "allows 2" in found[1].message


def test_an_owner_at_the_class_limit_of_environments_is_refused() -> None:
    limit = policy(limits={"maxEnvironmentsPerOwner": 2})
    owned = spec(owner="alice")
    assert broken(owned, limit, owner_count=1) == []
    found = broken(owned, limit, owner_count=2)
    assert rules(found) == ["limits.maxEnvironmentsPerOwner"]
    assert "owner alice already has 2 environments" in found[0].message
    assert "of any class" in found[0].message
    assert "allows 2" in found[0].message


def test_an_environment_without_owner_counts_as_owner_none() -> None:
    found = broken(spec(), policy(limits={"maxEnvironmentsPerOwner": 1}), owner_count=1)
    assert "owner (none)" in found[0].message


# -- images and secrets -----------------------------------------------------------------------


def test_every_image_from_outside_the_allowed_registries_is_named() -> None:
    allowed = policy(images={"allowedRegistries": ["registry.example.com/",
                                                   "mirror.example.com/"]})
    mixed = spec(services=[{"name": "api", "image": "registry.example.com/api:1"},
                           {"name": "db", "image": "mirror.example.com/pg:16"},
                           {"name": "web", "image": "docker.io/nginx:1"}])
    found = broken(mixed, allowed)
    assert found == [Violation("images.allowedRegistries", (
        "service web: image docker.io/nginx:1 is not from an allowed registry "
        "(registry.example.com/, mirror.example.com/)"))]


def test_an_empty_list_of_registries_allows_any_image() -> None:
    assert broken(spec(), policy(images={"allowedRegistries": []})) == []


def test_literal_secrets_are_refused_unless_the_class_allows_them() -> None:
    literal = spec(config={"secrets": [{"name": "token", "stringData": {"t": "x"}},
                                       {"name": "db", "generate": {"keys": ["password"]}}]})
    found = broken(literal, policy())  # the default: not allowed
    assert rules(found) == ["secrets.allowLiteral"]
    assert found[0].message.startswith("Secret token: stringData is not allowed")
    assert broken(literal, policy(secrets={"allowLiteral": True})) == []


def test_every_broken_rule_is_reported_not_only_the_first() -> None:
    everything = spec(namespace="dev-pr-1", owner="alice",
                      services=services(4, replicas=3, image="docker.io/app:1"),
                      config={"secrets": [{"name": "token", "stringData": {"t": "x"}}]})
    found = broken(everything, policy(**STRICT), owner_count=2)
    # In this order: the refusal message lists them so.
    assert rules(found) == ["namespacePrefix", "limits.maxServices", *["limits.maxReplicas"] * 4,
                            "limits.maxEnvironmentsPerOwner",
                            *["images.allowedRegistries"] * 4, "secrets.allowLiteral"]


def test_a_group_s_environment_counts_for_its_creator_or_for_the_group() -> None:
    meta = {"annotations": {"shipit.dev/created-by": "alice"}}
    assert counted_as("group:team", meta) == "alice"
    assert counted_as("group:team", meta, by_group=True) == "group:team"
    assert counted_as("bob", meta) == "bob"
    assert counted_as("group:team", {}) == "group:team"  # no creator recorded
    limit = policy(limits={"maxEnvironmentsPerOwner": 1, "groupEnvironmentsCountFor": "group"})
    found = classes.violations(spec(owner="group:team"), "c", limit, namespace="dev-pr-1",
                               operator_prefix=PREFIX, owner_count=1, counted_as="group:team")
    assert "owner group:team already has 1 environments" in found[0].message
    assert "a group's count for the group" in found[0].message
