"""Pure consequences of a reconcile: Events on transitions, step timings, requeue delays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devenv_operator import models, status, transitions
from devenv_operator.status import Observation, ServiceObservation
from devenv_operator.transitions import ChildChange, Event


def computed(observation: Observation, previous: dict[str, Any], now: datetime
             ) -> dict[str, Any]:
    """The status as written (status.compute returns it typed)."""
    return status.compute(observation, previous, now).as_dict()

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
META = {"name": "pr-1", "uid": "u-1"}


def available(replicas: int = 1) -> dict[str, Any]:
    return {"metadata": {"generation": 1, "creationTimestamp": "2026-03-01T09:00:00Z"},
            "status": {"observedGeneration": 1, "replicas": replicas,
                       "updatedReplicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas,
                       "conditions": [{"type": "Available", "status": "True"}]}}


def compute(*, ready: bool = True, at: datetime = T0, previous: dict[str, Any] | None = None,
            **fields: Any) -> dict[str, Any]:
    service = ServiceObservation("web", 1, available() if ready else None)
    fields.setdefault("namespace_state", "ready")
    obs = Observation(generation=1, created_at=T0, namespace="dev-pr-1", services=(service,),
                      **fields)
    return computed(obs, previous or {}, at)


def test_becoming_ready_posts_one_normal_event_with_the_time_it_took() -> None:
    before = compute(ready=False)
    after = compute(previous=before, at=T0 + timedelta(seconds=12))
    events = transitions.transition_events(before, after, T0 + timedelta(seconds=12), META)
    assert events == [Event("Normal", "Ready",
                            "All 1 services are available (12.0s after provisioning began)")]


def test_no_event_while_the_ready_condition_keeps_its_status_and_reason() -> None:
    first = compute(ready=False)
    again = compute(ready=False, previous=first, at=T0 + timedelta(seconds=5))
    assert transitions.transition_events(first, again, T0 + timedelta(seconds=5), META) == []


def test_a_failing_reason_is_a_warning_and_a_waiting_one_is_normal() -> None:
    invalid = compute(invalid="spec.ttl: bad")
    events = transitions.transition_events({}, invalid, T0, META)
    assert [(e.type, e.reason) for e in events] == [("Warning", "InvalidSpec")]
    pending = compute(namespace_state="missing")
    events = transitions.transition_events({}, pending, T0, META)
    assert [(e.type, e.reason) for e in events] == [("Normal", "NamespacePending")]


def test_expiring_soon_and_clamping_warn_once() -> None:
    expiring = compute(expires_at=T0 + timedelta(minutes=5), expiring=True)
    events = transitions.transition_events({}, expiring, T0, META)
    assert Event("Warning", "ExpiringSoon", expiring["conditions"][4]["message"]) in events
    again = transitions.transition_events(expiring, expiring, T0, META)
    assert not [e for e in again if e.reason == "ExpiringSoon"]
    clamped = compute(expires_at=T0 + timedelta(hours=1), expiry_note="clamped to 1h")
    assert [e.reason for e in transitions.transition_events({}, clamped, T0, META)
            if e.type == "Warning"] == ["TTLClamped"]


def test_child_changes_of_one_run_become_one_event_per_verb() -> None:
    changes = [ChildChange("Created", "ConfigMap", "a", "dev-x"),
               ChildChange("Created", "Deployment", "db", "dev-x"),
               ChildChange("Deleted", "Service", "old", "dev-x")]
    assert transitions.change_events(changes) == [
        Event("Normal", "Created", "Created ConfigMap a, Deployment db in dev-x"),
        Event("Normal", "Deleted", "Deleted Service old in dev-x")]


def test_config_updates_are_not_worth_an_event_but_workload_updates_are() -> None:
    assert not transitions.worth_an_event(ChildChange("Updated", "Secret", "db", "dev-x"))
    assert not transitions.worth_an_event(ChildChange("Updated", "ConfigMap", "c", "dev-x"))
    assert transitions.worth_an_event(ChildChange("Updated", "Deployment", "db", "dev-x"))
    assert transitions.worth_an_event(ChildChange("Created", "Secret", "db", "dev-x"))
    assert transitions.worth_an_event(ChildChange("Deleted", "ConfigMap", "c", "dev-x"))


def test_timings_report_each_step_once_and_ready_once() -> None:
    waiting = compute(ready=False)
    done_at = T0 + timedelta(seconds=30)
    ready = compute(previous=waiting, at=done_at)
    ready_after, steps = transitions.timings(waiting, ready, done_at)
    assert ready_after == 30.0
    assert steps == {"services": 30.0}
    assert transitions.timings(ready, ready, done_at + timedelta(seconds=5)) == (None, {})


def test_timings_without_a_start_report_nothing() -> None:
    assert transitions.timings({}, {"conditions": []}, T0) == (None, {})


@pytest.mark.parametrize(("phase", "reason", "terminating", "expected"), [
    ("Ready", "Ready", False, 300.0),
    ("Failed", "InvalidSpec", False, 300.0),
    ("Failed", "ReadyTimeout", False, 5.0),  # may still recover: look more often
    ("Failed", "ImagePullFailed", False, 5.0),  # the image may appear
    ("Failed", "CrashLooping", False, 5.0),  # the container may stay up
    ("Provisioning", "ServiceNotReady", False, 5.0),
    ("Pending", "NamespaceTerminating", True, 2.0),
])
def test_requeue_depends_on_how_settled_the_environment_is(
        phase: str, reason: str, terminating: bool, expected: float) -> None:
    assert transitions.requeue_after(
        phase=phase, reason=reason, namespace_terminating=terminating, now=T0, deadlines=[],
        resync=300.0, provisioning_recheck=5.0) == expected


def test_requeue_is_never_later_than_the_next_deadline_nor_negative() -> None:
    soon = [None, T0 + timedelta(seconds=42), T0 + timedelta(hours=1)]
    assert transitions.requeue_after(
        phase="Ready", reason="Ready", namespace_terminating=False, now=T0, deadlines=soon,
        resync=300.0, provisioning_recheck=5.0) == 42.0
    assert transitions.requeue_after(
        phase="Ready", reason="Ready", namespace_terminating=False, now=T0,
        deadlines=[T0 - timedelta(seconds=1)], resync=300.0, provisioning_recheck=5.0) == 0.0


def test_every_reason_the_transitions_emit_is_a_known_reason() -> None:
    for fields in ({}, {"invalid": "x"}, {"namespace_state": "conflict"},
                   {"namespace_state": "terminating"}, {"namespace_state": "missing"}):
        new = compute(**fields)
        for event in transitions.transition_events({}, new, T0, META):
            assert event.reason in status.REASONS
    assert set(status.FAILED_REASONS) <= set(status.REASONS)
    assert "Failed" in models.PHASES
