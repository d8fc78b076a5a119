"""pods.facts: restarts, the last termination, and when a service is stuck for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_operator import status
from devenv_operator.pods import FailFast, facts
from devenv_operator.status import Observation, ServiceObservation


def computed(observation: Observation, previous: dict[str, Any], now: datetime
             ) -> dict[str, Any]:
    """The status as written (status.compute returns it typed)."""
    return status.compute(observation, previous, now).as_dict()

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RULES = FailFast(image_pull_after=timedelta(minutes=2), crash_loop_restarts=3)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(*containers: dict[str, Any], created: float = 0, init: tuple[dict[str, Any], ...] = ()
        ) -> dict[str, Any]:
    return {"metadata": {"creationTimestamp": at(created)},
            "status": {"containerStatuses": list(containers),
                       "initContainerStatuses": list(init)}}


def pulling(name: str = "api", reason: str = "ImagePullBackOff", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "registry.example.com/api:1", "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "Back-off pulling image"}},
            **extra}


def crashing(name: str = "worker", restarts: int = 3, exit_code: int = 1,
             state: dict[str, Any] | None = None, ready: bool = False) -> dict[str, Any]:
    return {"name": name, "image": "worker:1", "restartCount": restarts, "ready": ready,
            "state": state or {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error",
                                         "message": "SECRET=hunter2 in the log tail",
                                         "finishedAt": at(50)}}}


def running(name: str = "web", restarts: int = 0, started: float = 0) -> dict[str, Any]:
    return {"name": name, "image": "web:1", "restartCount": restarts, "ready": True,
            "state": {"running": {"startedAt": at(started)}}}


def test_healthy_pods_have_no_restarts_and_are_not_stuck() -> None:
    found = facts([pod(running()), pod(running())], T0 + timedelta(minutes=5), RULES)
    assert (found.restarts, found.stuck_reason, found.last_exit_code) == (0, None, None)


def test_restarts_add_up_over_pods_and_containers_including_init_containers() -> None:
    found = facts([pod(running(restarts=2), init=(running("init", restarts=1),)),
                   pod(running(restarts=1))], T0 + timedelta(minutes=5), RULES)
    assert found.restarts == 4


def test_the_most_recent_termination_is_reported_without_its_message() -> None:
    old = {"name": "a", "restartCount": 1, "state": {"running": {"startedAt": at(10)}},
           "ready": True,
           "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                        "finishedAt": at(5)}}}
    found = facts([pod(old, crashing(restarts=1))], T0 + timedelta(minutes=1), RULES)
    assert (found.last_termination_reason, found.last_exit_code) == ("Error", 1)
    assert "hunter2" not in repr(found)


def test_an_image_failing_to_pull_is_stuck_only_after_the_threshold() -> None:
    pods = [pod(pulling(), created=0)]
    assert facts(pods, T0 + timedelta(seconds=119), RULES).stuck_reason is None
    stuck = facts(pods, T0 + timedelta(seconds=120), RULES)
    assert stuck.stuck_reason == "ImagePullFailed"
    assert "registry.example.com/api:1" in stuck.stuck_message
    assert "api" in stuck.stuck_message
    assert facts([pod(pulling(reason="ErrImagePull"))], T0 + timedelta(minutes=3),
                 RULES).stuck_reason == "ImagePullFailed"


def test_a_pull_failure_counts_from_the_last_run_of_its_container_not_pod_creation() -> None:
    # The pod ran for an hour; its container restarted and now its image will not pull.
    again = pulling(restartCount=1, lastState={"terminated": {
        "exitCode": 0, "reason": "Completed", "finishedAt": at(3600)}})
    pods = [pod(again, created=0)]
    assert facts(pods, T0 + timedelta(seconds=3600 + 60), RULES).stuck_reason is None
    assert facts(pods, T0 + timedelta(seconds=3600 + 121), RULES).stuck_reason == (
        "ImagePullFailed")


def test_an_invalid_image_name_is_stuck_at_once() -> None:
    found = facts([pod(pulling(reason="InvalidImageName"))], T0, RULES)
    assert found.stuck_reason == "ImagePullFailed"


ROOT_REFUSED = ("container has runAsNonRoot and image will run as root (pod: "
                '"db-5d_dev-pr-1(uid)", container: db)')


def test_a_container_the_kubelet_keeps_refusing_to_create_is_stuck_after_the_threshold(
) -> None:
    refused = {"name": "db", "image": "postgres:16", "restartCount": 0, "state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": ROOT_REFUSED}}}
    pods = [pod(refused, created=0)]
    assert facts(pods, T0 + timedelta(seconds=119), RULES).stuck_reason is None
    stuck = facts(pods, T0 + timedelta(seconds=120), RULES)
    assert stuck.stuck_reason == "ContainerCreateFailed"
    assert "container db cannot be created (CreateContainerConfigError)" in stuck.stuck_message
    assert "image will run as root" in stuck.stuck_message  # the kubelet says why


def test_a_container_refused_at_create_fails_the_environment_early() -> None:
    refused = {"name": "db", "image": "postgres:16", "restartCount": 0, "state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": ROOT_REFUSED}}}
    deployment = {"metadata": {"generation": 1, "creationTimestamp": at(0)},
                  "status": {"observedGeneration": 1, "replicas": 1}}
    observed = Observation(generation=1, created_at=T0, namespace="dev-pr-1",
                           namespace_state="ready", services=[ServiceObservation(
                               "db", 1, deployment, pods=[pod(refused)], pods_seen=True)])
    result = computed(observed, {}, T0 + timedelta(minutes=3))
    assert result["phase"] == "Failed"
    assert result["conditions"][0]["reason"] == "ContainerCreateFailed"


def test_a_crash_loop_is_stuck_at_the_restart_threshold() -> None:
    now = T0 + timedelta(minutes=1)
    assert facts([pod(crashing(restarts=2))], now, RULES).stuck_reason is None
    stuck = facts([pod(crashing(restarts=3))], now, RULES)
    assert stuck.stuck_reason == "CrashLooping"
    assert stuck.stuck_message == "container worker restarted 3 times, last exit code 1"
    assert facts([pod(crashing(restarts=3))], now,
                 FailFast(crash_loop_restarts=4)).stuck_reason is None


def test_a_crash_looping_init_container_is_stuck_too() -> None:
    found = facts([pod(init=(crashing("migrate", restarts=5),))], T0 + timedelta(minutes=1),
                  RULES)
    assert found.stuck_reason == "CrashLooping"
    assert "migrate" in found.stuck_message


def test_between_crashes_a_briefly_running_container_still_counts_as_crash_looping() -> None:
    up = crashing(restarts=4, ready=True, state={"running": {"startedAt": at(50)}})
    assert facts([pod(up)], T0 + timedelta(seconds=60), RULES).stuck_reason == "CrashLooping"
    # Up and ready for longer than the settle time: it recovered.
    assert facts([pod(up)], T0 + timedelta(seconds=81), RULES).stuck_reason is None


def test_the_operator_defaults_are_two_minutes_and_three_restarts() -> None:
    assert FailFast() == FailFast(image_pull_after=timedelta(minutes=2), crash_loop_restarts=3)


# -- in status --------------------------------------------------------------------------------


def unavailable() -> dict[str, Any]:
    return {"metadata": {"generation": 1, "creationTimestamp": at(0)},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "conditions": [{"type": "Available", "status": "False"}]}}


def observe(*services: ServiceObservation, rules: FailFast = RULES) -> Observation:
    return Observation(generation=1, created_at=T0, namespace="dev-x",
                       namespace_state="ready", services=services, fail_fast=rules,
                       ready_timeout=timedelta(minutes=10))


def test_a_stuck_service_fails_the_environment_early_and_stalls_it() -> None:
    api = status.with_pods(ServiceObservation("api", 1, unavailable()), [pod(pulling())])
    new = computed(observe(api), {}, T0 + timedelta(minutes=2))
    ready = next(c for c in new["conditions"] if c["type"] == "Ready")
    stalled = next(c for c in new["conditions"] if c["type"] == "Stalled")
    assert new["phase"] == "Failed"
    assert ready["reason"] == stalled["reason"] == "ImagePullFailed"
    assert stalled["status"] == "True"
    assert "api" in ready["message"]
    assert new["services"][0]["reason"] == "ImagePullFailed"


def test_restarts_of_pods_not_read_this_run_are_carried_from_the_last_status() -> None:
    worker = status.with_pods(ServiceObservation("worker", 1, unavailable()),
                              [pod(crashing(restarts=2))])
    first = computed(observe(worker), {}, T0 + timedelta(minutes=1))
    assert first["services"][0]["restarts"] == 2
    assert first["services"][0]["lastExitCode"] == 1
    unread = ServiceObservation("worker", 1, unavailable())
    second = computed(observe(unread), first, T0 + timedelta(minutes=2))
    assert second["services"][0]["restarts"] == 2
    assert second["services"][0]["lastTerminationReason"] == "Error"


def test_pods_are_read_again_after_a_stuck_or_degraded_status() -> None:
    assert not status.worth_rechecking_pods({})
    assert not status.worth_rechecking_pods({"services": [{"name": "a", "ready": False}]})
    assert status.worth_rechecking_pods({"readyAt": at(0), "services": [
        {"name": "a", "ready": False}]})
    assert status.worth_rechecking_pods({"services": [
        {"name": "a", "ready": False, "reason": "CrashLooping"}]})
    assert not status.worth_rechecking_pods({"readyAt": at(0), "services": [
        {"name": "a", "ready": True}]})
