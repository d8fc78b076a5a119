"""A missing class fails closed: no class at all on the cluster refuses the environment
(DEVENV_REQUIRE_CLASS, on by default), and an environment whose class disappears keeps the
expiry its class gave it instead of the lifetime it asks for. The effective class is in
status.className."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from devenv_operator import kube
from devenv_operator.reasons import Phase, Reason
from devenv_operator.settings import load
from tests.unit.test_reconcile_parts import T0, World

DEFAULT = {"shipit.dev/is-default-class": "true"}


@pytest.fixture
def world() -> Iterator[World]:
    made = World(require_class="true")
    yield made
    made.close()


def stored(world: World) -> dict[str, Any]:
    body = world.api.stored(kube.DEVENV, "pr-1")
    assert body is not None
    return body


def test_the_operator_requires_a_class_by_default() -> None:
    assert load({}).require_class is True


def test_no_class_on_the_cluster_refuses_the_environment_and_creates_nothing(
        world: World) -> None:
    outcome = world.reconcile(world.environment())
    assert outcome.status["phase"] == Phase.FAILED
    ready = outcome.status["conditions"][0]
    assert ready["reason"] == Reason.CLASS_NOT_FOUND
    assert "no default DevEnvironmentClass" in ready["message"]
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is None
    assert world.api.count("apply") == world.api.count("create") == 0
    world.classes.put("standard", {}, DEFAULT)  # the platform installs one: it runs
    outcome = world.reconcile(stored(world))
    assert outcome.status["phase"] == Phase.PROVISIONING
    assert outcome.status["className"] == "standard"
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is not None


def test_the_effective_class_is_recorded_in_status(world: World) -> None:
    world.classes.put("standard", {}, DEFAULT)
    world.classes.put("small", {}, {})
    outcome = world.reconcile(world.environment(className="small"))
    assert outcome.status["className"] == "small"


def test_a_class_that_disappears_keeps_the_lifetime_it_gave(world: World) -> None:
    world.classes.put("short", {"lifetime": {"maxTTL": "1h"}}, {})
    body = world.environment(className="short", ttl="1000h")
    first = world.reconcile(body)
    capped = first.status["expiresAt"]
    assert capped == (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    world.classes.remove("short")
    world.now = T0 + timedelta(minutes=10)
    held = world.reconcile(stored(world))
    assert held.status["conditions"][0]["reason"] == Reason.CLASS_NOT_FOUND
    assert held.status["expiresAt"] == capped  # before: the 1000h the spec asks for
    world.now = T0 + timedelta(hours=2)
    world.reconcile(stored(world))
    assert [c.kind for c in world.api.served("delete")] == ["DevEnvironment"]


def test_a_missing_class_is_capped_by_the_operator_s_own_lifetime() -> None:
    world = World(require_class="true", max_ttl="2h")
    try:
        outcome = world.reconcile(world.environment(className="gone", ttl="1000h"))
        assert outcome.status["conditions"][0]["reason"] == Reason.CLASS_NOT_FOUND
        assert outcome.status["expiresAt"] == (T0 + timedelta(hours=2)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    finally:
        world.close()


def test_the_owner_limit_counts_environments_of_every_class_and_refused_ones(
        world: World) -> None:
    """Before: counted per (owner, class), so a second class doubled it, and an invalid
    environment did not count at all."""
    world.classes.put("standard", {"limits": {"maxEnvironmentsPerOwner": 2}}, DEFAULT)
    world.classes.put("other", {}, {})
    first = world.environment("a-1", owner="alice", className="other")
    invalid = world.environment("a-2", owner="alice", services=[{"name": "Bad!"}])
    third = world.environment("a-3", owner="alice")
    stranger = world.environment("b-1", owner="bob")
    for body in (first, invalid, third, stranger):
        world.now += timedelta(seconds=1)
        world.reconcile(body)
    refused = world.reconcile(world.api.stored(kube.DEVENV, "a-3") or third)
    ready = refused.status["conditions"][0]
    assert ready["reason"] == Reason.POLICY_VIOLATION
    assert "owner alice already has 2 environments (of any class" in ready["message"]
    bob = world.reconcile(world.api.stored(kube.DEVENV, "b-1") or stranger)
    assert bob.status["phase"] == Phase.PROVISIONING


def test_a_spec_too_large_is_invalid_and_counts_against_its_owner(world: World) -> None:
    """Before: a 1.2 MB environment was built from, and did not count for the limit."""
    world.classes.put("standard", {"limits": {"maxEnvironmentsPerOwner": 1}}, DEFAULT)
    big = world.environment("big", owner="alice", config={"configMaps": [
        {"name": "blob", "data": {"x": "a" * 300_000}}]})
    outcome = world.reconcile(big)
    ready = outcome.status["conditions"][0]
    assert ready["reason"] == Reason.INVALID_SPEC
    assert "293 KiB, at most 256 KiB" in ready["message"]
    assert world.api.stored(kube.NAMESPACE, "dev-big") is None
    world.now += timedelta(seconds=1)
    later = world.reconcile(world.environment("next", owner="alice"))
    assert later.status["conditions"][0]["reason"] == Reason.POLICY_VIOLATION


def test_a_group_s_environments_count_for_the_member_who_created_them(world: World) -> None:
    """Before: alice in groups a and b had the limit once as alice, once per group."""
    world.classes.put("standard", {"limits": {"maxEnvironmentsPerOwner": 2}}, DEFAULT)

    def by(creator: str, name: str, owner: str) -> dict[str, Any]:
        world.environment(name, owner=owner)
        return world.api.patch(kube.DEVENV, name, {"metadata": {"annotations": {
            "shipit.dev/created-by": creator}}})

    bodies = [by("alice", "a-1", "alice"), by("alice", "a-2", "group:a"),
              by("bob", "b-1", "group:a"), by("alice", "a-3", "group:b")]
    outcomes = []
    for body in bodies:
        world.now += timedelta(seconds=1)
        outcomes.append(world.reconcile(body))
    outcomes = [world.reconcile(world.api.stored(kube.DEVENV, b["metadata"]["name"]) or b)
                for b in bodies]
    reasons = [o.status["conditions"][0]["reason"] for o in outcomes]
    assert reasons[3] == Reason.POLICY_VIOLATION  # alice's third, through group b
    assert Reason.POLICY_VIOLATION not in reasons[:3]  # bob's counts for bob
