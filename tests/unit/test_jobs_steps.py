"""The workloads step with jobs, alone against the in-memory fake of the API seam: what it
creates when, what it prunes, and that a failed job's log is read once. Whether Jobs run,
complete and fail is the real control plane's to show (tests/e2e/test_jobs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from devenv_operator import kube
from devenv_operator.reasons import Phase, Reason
from tests.unit.test_reconcile_parts import World

NS = "dev-pr-1"
SERVICES = [{"name": "db", "image": "postgres:16", "ports": [{"port": 5432}]},
            {"name": "api", "image": "api:1", "dependsOn": ["db", "migrate"]}]
JOBS = [{"name": "migrate", "image": "api:1", "command": ["migrate"], "dependsOn": ["db"]}]
AVAILABLE = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
             "readyReplicas": 1, "availableReplicas": 1,
             "conditions": [{"type": "Available", "status": "True"}]}


@pytest.fixture
def world() -> Iterator[World]:
    made = World()
    yield made
    made.close()


def settle(world: World, kind: kube.Kind, name: str, status: dict[str, Any]) -> None:
    """The object's controller set its status, and the operator's watch saw it."""
    world.api.patch(kind, name, {"status": status}, NS, subresource="status")
    stored = world.api.stored(kind, name, NS)
    assert stored is not None
    world.children.put(kind, stored)


def again(world: World) -> Any:
    world.now += timedelta(seconds=1)
    body = world.api.stored(kube.DEVENV, "pr-1")
    assert body is not None
    return world.reconcile(body)


def jobs_in(world: World) -> list[str]:
    return sorted(j["metadata"]["name"] for j in world.api.list(kube.JOB, NS))


def test_a_job_waits_for_its_service_and_a_service_for_the_job(world: World) -> None:
    outcome = world.reconcile(world.environment(services=SERVICES, jobs=JOBS))
    assert world.api.stored(kube.DEPLOYMENT, "db", NS) is not None
    assert jobs_in(world) == []
    assert world.api.stored(kube.DEPLOYMENT, "api", NS) is None
    (migrate,) = outcome.status["jobs"]
    assert (migrate["state"], migrate["reason"]) == ("Pending", Reason.DEPENDENCY_NOT_READY)

    settle(world, kube.DEPLOYMENT, "db", AVAILABLE)
    outcome = again(world)
    (name,) = jobs_in(world)
    assert name == outcome.status["jobs"][0]["jobName"]
    assert name.startswith("migrate-")
    assert world.api.stored(kube.DEPLOYMENT, "api", NS) is None  # the job has not completed

    settle(world, kube.JOB, name, {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True"}], "completionTime": "2026-12-01T09:00:02Z"})
    outcome = again(world)
    assert world.api.stored(kube.DEPLOYMENT, "api", NS) is not None
    assert outcome.status["jobs"][0]["state"] == "Complete"
    assert jobs_in(world) == [name]  # the completed Job stays: the record that it ran


def test_a_changed_job_is_a_new_job_and_the_older_one_is_pruned(world: World) -> None:
    world.reconcile(world.environment(services=SERVICES[:1], jobs=JOBS))
    settle(world, kube.DEPLOYMENT, "db", AVAILABLE)
    again(world)
    (first,) = jobs_in(world)
    again(world)
    assert jobs_in(world) == [first]  # nothing changed: the same Job, not applied again
    world.api.patch(kube.DEVENV, "pr-1", {"spec": {"jobs": [{**JOBS[0], "args": ["-v"]}]}})
    again(world)
    (second,) = jobs_in(world)
    assert second != first
    (deleted,) = [r.name for r in world.api.served("delete") if r.kind == "Job"]
    assert deleted == first


def test_a_failed_job_s_log_is_read_once_and_announced_once(world: World) -> None:
    world.reconcile(world.environment(services=SERVICES[:1], jobs=JOBS))
    settle(world, kube.DEPLOYMENT, "db", AVAILABLE)
    again(world)
    (name,) = jobs_in(world)
    for pod, phase in (("p-1", "Failed"), ("p-2", "Failed"), ("other", "Failed")):
        world.api.seed(kube.POD, {"metadata": {
            "name": f"{name}-{pod}", "namespace": NS, "creationTimestamp":
            f"2026-12-01T09:00:0{len(pod)}Z", "labels": {
                "shipit.dev/environment": "pr-1",
                "batch.kubernetes.io/job-name": name if pod != "other" else "x"}},
            "status": {"phase": phase}})
    world.api.pod_logs[(NS, f"{name}-p-2", "migrate")] = "".join(
        f"line {i}\n" for i in range(30)) + "ERROR: relation users does not exist\n"
    settle(world, kube.JOB, name, {"failed": 2, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit"}]})
    outcome = again(world)
    assert outcome.status["phase"] == Phase.FAILED
    assert outcome.status["conditions"][0]["reason"] == Reason.JOB_FAILED
    (read,) = world.api.served("logs")
    assert (read.name, read.body) == (f"{name}-p-2", {"container": "migrate", "tail": 10})
    message = outcome.status["jobs"][0]["message"]
    assert message.endswith("line 29\nERROR: relation users does not exist")
    announced = [e for e in outcome.events if e.type == "Warning"
                 and e.reason == Reason.JOB_FAILED]
    assert any(e.message.startswith(f"Job migrate ({name}) failed after 2 attempts")
               and e.message.endswith("ERROR: relation users does not exist")
               for e in announced), announced

    outcome = again(world)
    assert len(world.api.served("logs")) == 1  # from the status since
    assert outcome.status["jobs"][0]["message"] == message
    assert not [e for e in outcome.events if e.reason == Reason.JOB_FAILED]


def test_a_log_that_cannot_be_read_says_so_and_is_not_asked_for_again(world: World) -> None:
    from devenv_operator import errors

    world.reconcile(world.environment(services=SERVICES[:1], jobs=JOBS))
    settle(world, kube.DEPLOYMENT, "db", AVAILABLE)
    again(world)
    (name,) = jobs_in(world)
    world.api.seed(kube.POD, {"metadata": {"name": f"{name}-a", "namespace": NS, "labels": {
        "shipit.dev/environment": "pr-1", "batch.kubernetes.io/job-name": name}},
        "status": {"phase": "Failed"}})
    world.api.fail_next("logs", errors.Transient("kubelet did not answer"))
    settle(world, kube.JOB, name, {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]})
    outcome = again(world)
    assert "(log unavailable: kubelet did not answer)" in outcome.status["jobs"][0]["message"]
    again(world)
    assert len(world.api.served("logs")) == 1


def test_the_pods_of_a_job_that_runs_late_are_read_and_say_why(world: World) -> None:
    world.reconcile(world.environment(services=SERVICES[:1], jobs=JOBS))
    settle(world, kube.DEPLOYMENT, "db", AVAILABLE)
    again(world)
    (name,) = jobs_in(world)
    settle(world, kube.JOB, name, {"active": 1})
    lists = len([r for r in world.api.served("list") if r.kind == "Pod"])
    again(world)  # one second old: not late, its pods are not read
    assert len([r for r in world.api.served("list") if r.kind == "Pod"]) == lists
    world.api.seed(kube.POD, {"metadata": {
        "name": f"{name}-a", "namespace": NS, "creationTimestamp": "2026-12-01T09:00:00Z",
        "labels": {"shipit.dev/environment": "pr-1", "batch.kubernetes.io/job-name": name}},
        "status": {"containerStatuses": [{"name": "migrate", "image": "api:1", "state": {
            "waiting": {"reason": "ErrImagePull"}}}]}})
    world.now += timedelta(minutes=3)
    outcome = again(world)
    assert outcome.status["jobs"][0]["reason"] == Reason.IMAGE_PULL_FAILED
    assert outcome.status["conditions"][0]["reason"] == Reason.IMAGE_PULL_FAILED
