"""Where Events about an environment go (issue 26): into its namespace once it has one, and
only then; into ``default`` only without one. Before, every Event also went to ``default``,
where whoever reads Events there read every environment's."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from devenv_operator.recorder import EventRecorder
from devenv_operator.transitions import Event
from tests.unit.fakekube import FakeKube

BODY = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
        "metadata": {"name": "pr-1", "uid": "u-1"}}


def posted(api: FakeKube, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while len(api.events) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # nothing more arrives
    return [e["metadata"]["namespace"] for e in api.events]


def test_events_go_to_the_environment_s_namespace_alone() -> None:
    api = FakeKube()
    recorder = EventRecorder(api.as_kube())
    try:
        recorder.post(BODY, [Event("Normal", "Ready", "all services ready")],
                      at=datetime.now(UTC), namespace="dev-pr-1")
        assert posted(api, 1) == ["dev-pr-1"]
        recorder.post_now(BODY, Event("Normal", "Deleting", "bye"), namespace="dev-pr-1")
        assert posted(api, 2) == ["dev-pr-1", "dev-pr-1"]
    finally:
        recorder.close()


def test_without_a_namespace_events_go_to_default() -> None:
    api = FakeKube()
    recorder = EventRecorder(api.as_kube())
    try:
        recorder.post(BODY, [Event("Warning", "PolicyViolation", "no")], at=datetime.now(UTC))
        assert posted(api, 1) == ["default"]
    finally:
        recorder.close()
