"""A template or class applied a moment before the environment (a pipeline's two `kubectl
apply`s) may not have come through the operator's watch yet: the operator reads it before
telling the environment it does not exist, once per miss."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devenv_operator import kube
from devenv_operator.reasons import Phase, Reason
from tests.unit.test_reconcile_parts import World

TEMPLATE = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
            "metadata": {"name": "shop", "generation": 3},
            "spec": {"className": "small",
                     "services": [{"name": "web", "image": "nginx:1.27",
                                   "ports": [{"port": 80}]}]}}
CLASS = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
         "metadata": {"name": "small"}, "spec": {"limits": {"maxServices": 1}}}


@pytest.fixture
def world() -> Iterator[World]:
    made = World(require_class="true")
    yield made
    made.close()


def from_template(world: World) -> dict[str, Any]:
    return world.api.seed(kube.DEVENV, {
        "apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
        "metadata": {"name": "pr-1"}, "spec": {"templateRef": {"name": "shop"}}})


def gets(world: World, kind: str) -> int:
    return sum(1 for r in world.api.served("get") if r.kind == kind)


def test_a_template_and_class_not_yet_watched_are_read_and_remembered(world: World) -> None:
    world.api.seed(kube.TEMPLATE, TEMPLATE)
    world.api.seed(kube.DEVENV_CLASS, CLASS)
    outcome = world.reconcile(from_template(world))
    assert outcome.status["phase"] == Phase.PROVISIONING, outcome.status
    assert outcome.status["className"] == "small"
    assert outcome.status["template"]["name"] == "shop"
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is not None
    # Remembered: the next run reads neither again.
    assert world.parts.templates.get("shop") is not None
    before = (gets(world, "DevEnvironmentTemplate"), gets(world, "DevEnvironmentClass"))
    assert before == (1, 1)
    world.reconcile(world.api.stored(kube.DEVENV, "pr-1"))
    assert (gets(world, "DevEnvironmentTemplate"), gets(world, "DevEnvironmentClass")) == before


def test_a_template_that_does_not_exist_is_still_not_found(world: World) -> None:
    outcome = world.reconcile(from_template(world))
    assert outcome.status["phase"] == Phase.FAILED
    assert outcome.status["conditions"][0]["reason"] == Reason.TEMPLATE_NOT_FOUND
    assert gets(world, "DevEnvironmentTemplate") == 1
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is None


def test_a_class_that_does_not_exist_is_still_not_found(world: World) -> None:
    outcome = world.reconcile(world.environment(className="nope"))
    assert outcome.status["conditions"][0]["reason"] == Reason.CLASS_NOT_FOUND
    assert gets(world, "DevEnvironmentClass") == 1
    assert world.api.stored(kube.NAMESPACE, "dev-pr-1") is None
