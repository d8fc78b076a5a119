"""spec.jobs, pure: the model's rules, the Job a job builds to (and when its hashed name
changes), the job's status and the JobsComplete condition, the class's bounds on jobs, and
jobs declared by templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devenv_operator import builders, classes, models, status, templates
from devenv_operator.reasons import Condition, Phase, Reason
from devenv_operator.status import JobObservation, Observation, ServiceObservation

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DB = {"name": "db", "image": "postgres:16", "ports": [{"port": 5432}]}
MIGRATE = {"name": "migrate", "image": "registry.example.com/shop/api:1",
           "command": ["./manage", "migrate"], "dependsOn": ["db"]}
API = {"name": "api", "image": "registry.example.com/shop/api:1",
       "dependsOn": ["db", "migrate"]}


def spec(**fields: Any) -> models.DevEnvironmentSpec:
    fields.setdefault("services", [DB, API])
    fields.setdefault("jobs", [MIGRATE])
    return models.DevEnvironmentSpec.model_validate(fields)


def env(parsed: models.DevEnvironmentSpec | None = None, **fields: Any) -> builders.Env:
    return builders.Env(name="pr-1", uid="u-1", spec=parsed or spec(), namespace="dev-pr-1",
                        **fields)


# --- the model ---------------------------------------------------------------------------

def test_a_job_defaults_to_one_retry_and_no_deadline() -> None:
    job = spec().jobs[0]
    assert job.backoff_limit == 1
    assert job.active_deadline_seconds is None
    assert spec().dependencies() == {"db": [], "api": ["db", "migrate"], "migrate": ["db"]}


@pytest.mark.parametrize(("jobs", "services", "words"), [
    ([{**MIGRATE, "name": "db"}], [DB], "db is also the name of a service"),
    ([MIGRATE, MIGRATE], [DB], "jobs: names must be unique"),
    ([{**MIGRATE, "dependsOn": ["cache"]}], [DB], "job migrate depends on unknown service or "
     "job cache"),
    ([{**MIGRATE, "dependsOn": ["migrate"]}], [DB], "job migrate depends on itself"),
    ([MIGRATE], [DB, {**API, "dependsOn": ["seed"]}], "service api depends on unknown"),
    ([{**MIGRATE, "backoffLimit": -1}], [DB], "backoffLimit"),
    ([{**MIGRATE, "backoffLimit": 11}], [DB], "backoffLimit"),
    ([{**MIGRATE, "activeDeadlineSeconds": 0}], [DB], "activeDeadlineSeconds"),
    ([{**MIGRATE, "name": "m" * 53}], [DB], "name"),
    ([{**MIGRATE, "restartPolicy": "Always"}], [DB], "restartPolicy"),
])
def test_a_bad_job_is_refused_with_a_message(jobs: list[dict[str, Any]],
                                             services: list[dict[str, Any]],
                                             words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        spec(services=services, jobs=jobs)


def test_a_dependson_cycle_through_a_job_makes_the_spec_invalid() -> None:
    raw = {"services": [DB, {**API, "dependsOn": ["migrate"]}],
           "jobs": [{**MIGRATE, "dependsOn": ["api"]}]}
    checked = builders.validate("pr-1", raw, "dev-")
    assert not checked.ok
    assert "dependsOn cycle" in (checked.problem or "")
    assert "api -> migrate -> api" in (checked.problem or "")


# --- the Job -----------------------------------------------------------------------------

def test_the_job_is_a_one_shot_pod_with_the_class_s_hardening_and_defaults() -> None:
    policy = classes.DevEnvironmentClassSpec.model_validate({
        "limitRange": {"default": {"memory": "256Mi"}, "defaultRequest": {"cpu": "50m"}},
        "workloadSecurity": {"allowRoot": False, "allowedCapabilities": ["CHOWN"]}})
    parsed = spec(jobs=[{**MIGRATE, "backoffLimit": 2, "activeDeadlineSeconds": 600,
                         "env": [{"name": "DB_HOST", "value": "db"}],
                         "envFrom": [{"configMapRef": {"name": "app"}}],
                         "securityContext": {"runAsUser": 1000, "fsGroup": 1000,
                                             "capabilities": {"add": ["CHOWN"]}}}])
    job = builders.build_job(env(parsed, class_name="c", policy=policy), parsed.jobs[0])
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    meta = job["metadata"]
    assert meta["name"].startswith("migrate-")
    assert len(meta["name"]) == len("migrate-") + 10
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "devenv-operator"
    assert meta["labels"]["shipit.dev/environment"] == "pr-1"
    assert meta["labels"]["app.kubernetes.io/name"] == "migrate"
    body = job["spec"]
    assert body["backoffLimit"] == 2
    assert body["activeDeadlineSeconds"] == 600
    assert "ttlSecondsAfterFinished" not in body  # the completed Job is the record it ran
    pod = body["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["fsGroup"] == 1000
    (container,) = pod["containers"]
    assert container["command"] == ["./manage", "migrate"]
    assert container["env"] == [{"name": "DB_HOST", "value": "db"}]
    assert container["envFrom"] == [{"configMapRef": {"name": "app"}}]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert container["resources"] == {"limits": {"memory": "256Mi"},
                                      "requests": {"cpu": "50m", "memory": "256Mi"}}
    assert "ports" not in container
    assert "readinessProbe" not in container


def name_of(parsed: models.DevEnvironmentSpec, **fields: Any) -> str:
    return builders.job_object_name(env(parsed, **fields), parsed.jobs[0])


def test_the_job_s_name_changes_only_when_its_rendered_spec_does() -> None:
    base = name_of(spec())
    assert name_of(spec()) == base  # the same spec: the same Job, run once
    # Nothing of the job changed: the same Job.
    assert name_of(spec(services=[DB, {**API, "replicas": 3}])) == base
    assert name_of(spec(ttl="2h")) == base
    assert name_of(spec(), reruns={"other": "t1"}) == base
    # Its own spec changed: a new Job.
    assert name_of(spec(jobs=[{**MIGRATE, "args": ["--fake"]}])) != base
    assert name_of(spec(jobs=[{**MIGRATE, "backoffLimit": 3}])) != base
    assert name_of(spec(jobs=[{**MIGRATE, "image": "registry.example.com/shop/api:2"}])) != base
    # A rerun asked for: a new Job for each new nonce.
    first = name_of(spec(), reruns={"migrate": "2026-12-07T09:00:00.000001Z"})
    second = name_of(spec(), reruns={"migrate": "2026-12-07T09:05:00.000001Z"})
    assert len({base, first, second}) == 3


def test_a_rerun_annotation_names_its_job_and_goes_into_the_pod_template() -> None:
    reruns = builders.reruns_of({"rerun.shipit.dev/migrate": "t1", "shipit.dev/owner": "x",
                                 "rerun.shipit.dev/": "ignored"})
    assert reruns == {"migrate": "t1"}
    parsed = spec()
    job = builders.build_job(env(parsed, reruns=reruns), parsed.jobs[0])
    assert job["spec"]["template"]["metadata"]["annotations"] == {
        "rerun.shipit.dev/nonce": "t1"}


def test_the_longest_job_name_still_makes_a_valid_job_name() -> None:
    parsed = spec(services=[DB], jobs=[{**MIGRATE, "name": "m" * models.MAX_JOB_NAME}])
    assert len(name_of(parsed)) == 63


# --- status --------------------------------------------------------------------------------

def job(*conditions: str, **counts: Any) -> dict[str, Any]:
    return {"metadata": {"name": "migrate-abc", "generation": 1},
            "status": {**counts, "conditions": [
                {"type": c, "status": "True", "reason": "BackoffLimitExceeded" if c == "Failed"
                 else "", "message": "Job has reached the specified backoff limit"
                 if c == "Failed" else ""} for c in conditions]}}


def observed(*jobs: JobObservation, available: bool = True, **fields: Any) -> Observation:
    deployment = {"metadata": {"generation": 1}, "status": {
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": int(available), "availableReplicas": int(available),
        "conditions": [{"type": "Available", "status": str(available)}]}}
    return Observation(generation=1, created_at=T0, namespace="dev-pr-1",
                       namespace_state="ready", with_jobs=True,
                       services=[ServiceObservation("db", 1, deployment)], jobs=jobs, **fields)


def written(observation: Observation, now: datetime = T0 + timedelta(seconds=5),
            previous: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = status.compute(observation, previous or {}, now).as_dict()
    return result


def cond(result: dict[str, Any], ctype: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in result["conditions"] if c["type"] == ctype)
    return found


def test_each_state_of_a_job_in_status_jobs() -> None:
    waiting = status.job_status(JobObservation("migrate", "migrate-abc", waiting_for=["db"]))
    assert (waiting["state"], waiting["reason"]) == ("Pending", Reason.DEPENDENCY_NOT_READY)
    assert "db" in waiting["message"]
    created = status.job_status(JobObservation("migrate", "migrate-abc", job()))
    assert (created["state"], created["attempts"]) == ("Pending", 0)
    running = status.job_status(JobObservation("migrate", "migrate-abc", job(
        active=1, failed=1, startTime="2026-12-07T09:00:01Z")))
    assert (running["state"], running["attempts"]) == ("Running", 2)
    assert running["startedAt"] == "2026-12-07T09:00:01Z"
    done = status.job_status(JobObservation("migrate", "migrate-abc", job(
        "Complete", succeeded=1, startTime="2026-12-07T09:00:01Z",
        completionTime="2026-12-07T09:00:09Z")))
    assert done == {"name": "migrate", "jobName": "migrate-abc", "state": "Complete",
                    "reason": Reason.JOB_COMPLETE, "attempts": 1, "message": "",
                    "startedAt": "2026-12-07T09:00:01Z", "completedAt": "2026-12-07T09:00:09Z"}
    failed = status.job_status(JobObservation("migrate", "migrate-abc", job(
        "Failed", failed=2), log="line 1\nERROR: relation \"users\" does not exist\n"))
    assert (failed["state"], failed["reason"], failed["attempts"]) == (
        "Failed", Reason.JOB_FAILED, 2)
    assert failed["message"].startswith("failed after 2 attempts: BackoffLimitExceeded")
    assert failed["message"].endswith('last log lines:\nline 1\nERROR: relation "users" '
                                      "does not exist")
    assert "completedAt" not in failed


def test_a_long_log_is_cut_to_its_last_ten_lines_and_two_kilobytes() -> None:
    lines = "\n".join(f"line {i}" for i in range(100))
    assert status.trim_log(lines).splitlines() == [f"line {i}" for i in range(90, 100)]
    assert len(status.trim_log("x" * 5000).encode()) == 2048


def test_ready_waits_for_every_job_to_complete() -> None:
    running = written(observed(JobObservation("migrate", "migrate-abc", job(active=1))))
    assert running["phase"] == Phase.PROVISIONING
    assert cond(running, Condition.JOBS_COMPLETE)["status"] == "False"
    assert cond(running, Condition.READY)["reason"] == Reason.JOB_NOT_COMPLETE
    assert "migrate: running (1 attempt)" in cond(running, Condition.READY)["message"]
    assert running["jobs"][0]["state"] == "Running"
    done = written(observed(JobObservation("migrate", "migrate-abc",
                                           job("Complete", succeeded=1))))
    assert done["phase"] == Phase.READY
    assert cond(done, Condition.JOBS_COMPLETE) | {"lastTransitionTime": ""} == {
        "type": "JobsComplete", "status": "True", "reason": Reason.JOBS_COMPLETE,
        "message": "All 1 jobs complete", "lastTransitionTime": "", "observedGeneration": 1}
    assert cond(done, Condition.READY)["message"] == (
        "All 1 services are available and 1 job complete")


def test_a_failed_job_fails_the_environment_naming_it_and_its_last_log_line() -> None:
    result = written(observed(JobObservation("migrate", "migrate-abc", job("Failed", failed=2),
                                             log="connecting\nERROR: no such table\n")))
    assert result["phase"] == Phase.FAILED
    ready, stalled = cond(result, Condition.READY), cond(result, Condition.STALLED)
    assert ready["reason"] == stalled["reason"] == Reason.JOB_FAILED
    assert stalled["status"] == "True"
    assert ready["message"] == (
        "Job migrate failed after 2 attempts: BackoffLimitExceeded: Job has reached the "
        "specified backoff limit; last log line: ERROR: no such table")
    assert "\n" not in ready["message"]
    assert result["jobs"][0]["message"].endswith("connecting\nERROR: no such table")


def test_a_failed_job_wins_over_services_still_waiting_for_it() -> None:
    waiting = ServiceObservation("api", 1, waiting_for=["migrate"])
    observation = observed(JobObservation("migrate", "migrate-abc", job("Failed", failed=1)))
    result = written(Observation(**{**observation.__dict__,
                                    "services": [*observation.services, waiting]}))
    assert cond(result, Condition.SERVICES_READY)["reason"] == Reason.DEPENDENCY_NOT_READY
    assert cond(result, Condition.READY)["reason"] == Reason.JOB_FAILED


def test_a_job_not_complete_by_the_ready_timeout_times_out() -> None:
    result = written(observed(JobObservation("migrate", "migrate-abc", job(active=1))),
                     now=T0 + timedelta(minutes=11))
    assert cond(result, Condition.JOBS_COMPLETE)["reason"] == Reason.READY_TIMEOUT
    assert result["phase"] == Phase.FAILED


def test_an_environment_without_jobs_has_no_jobs_condition_or_list() -> None:
    plain = Observation(generation=1, created_at=T0, namespace="dev-pr-1",
                        namespace_state="ready")
    result = written(plain)
    assert Condition.JOBS_COMPLETE not in {c["type"] for c in result["conditions"]}
    assert "jobs" not in result
    invalid = written(Observation(generation=1, created_at=T0, with_jobs=True,
                                  invalid="spec.jobs.0.image: required"))
    assert cond(invalid, Condition.JOBS_COMPLETE)["status"] == "Unknown"


# --- the class ------------------------------------------------------------------------------

def test_the_class_bounds_a_job_like_a_service() -> None:
    policy = classes.DevEnvironmentClassSpec.model_validate({
        "images": {"allowedRegistries": ["registry.example.com/"]},
        "workloadSecurity": {"allowRoot": False, "allowedCapabilities": ["CHOWN"]}})
    parsed = spec(services=[{**DB, "image": "registry.example.com/db:16"}], jobs=[
        {**MIGRATE, "image": "docker.io/evil:1",
         "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}}])
    found = classes.violations(parsed, "team", policy, namespace="dev-pr-1",
                               operator_prefix="dev-")
    assert {(v.rule, v.message.split(":")[0]) for v in found} == {
        ("images.allowedRegistries", "job migrate"),
        ("workloadSecurity.allowedCapabilities", "job migrate"),
        ("workloadSecurity.allowRoot", "job migrate")}


# --- templates ------------------------------------------------------------------------------

def test_a_template_declares_jobs_with_parameters_and_an_environment_overrides_them() -> None:
    template = {"parameters": [{"name": "apiImage", "type": "image", "required": True},
                               {"name": "retries", "type": "integer", "default": 2}],
                "services": [DB, {**API, "image": "$(params.apiImage)"}],
                "jobs": [{**MIGRATE, "image": "$(params.apiImage)",
                          "backoffLimit": "$(params.retries)"}]}
    rendered = templates.render(template, {"apiImage": "registry.example.com/shop/api:7"},
                                environment={"jobs": [{"name": "migrate",
                                                       "args": ["--verbose"]}]})
    assert isinstance(rendered, templates.RenderedSpec), rendered
    (migrate,) = rendered.model.jobs
    assert migrate.image == "registry.example.com/shop/api:7"
    assert migrate.backoff_limit == 2
    assert migrate.args == ["--verbose"]
    assert migrate.command == ["./manage", "migrate"]
    assert templates.check_template(template) == []
    broken = templates.render({**template, "jobs": [{**MIGRATE, "image": "$(params.nope)"}]},
                              {"apiImage": "registry.example.com/shop/api:7"})
    assert isinstance(broken, templates.RenderError)
    assert broken.reason == Reason.TEMPLATE_INVALID


def test_the_jobs_step_is_timed_when_every_job_completed() -> None:
    from devenv_operator import transitions

    before = written(observed(JobObservation("migrate", "migrate-abc", job(active=1))))
    after = written(observed(JobObservation("migrate", "migrate-abc",
                                            job("Complete", succeeded=1))),
                    now=T0 + timedelta(seconds=9), previous=before)
    ready_after, steps = transitions.timings(before, after, T0 + timedelta(seconds=9))
    assert steps == {"jobs": 9.0}
    assert ready_after == 9.0


def pulling_pod(since: str) -> dict[str, Any]:
    return {"metadata": {"name": "migrate-abc-x", "creationTimestamp": since},
            "status": {"containerStatuses": [{"name": "migrate", "image": "nope/api:1",
                                              "state": {"waiting": {
                                                  "reason": "ImagePullBackOff"}}}]}}


def test_a_job_whose_image_keeps_failing_to_pull_fails_early_like_a_service() -> None:
    pods = (pulling_pod("2026-12-07T09:00:00Z"),)
    early = written(observed(JobObservation("migrate", "migrate-abc", job(active=1),
                                            pods=pods)), now=T0 + timedelta(seconds=30))
    assert early["jobs"][0]["reason"] == Reason.JOB_RUNNING  # not yet: within the grace
    assert early["phase"] == Phase.PROVISIONING
    late = written(observed(JobObservation("migrate", "migrate-abc", job(active=1),
                                           pods=pods)), now=T0 + timedelta(minutes=3))
    entry = late["jobs"][0]
    assert (entry["state"], entry["reason"]) == ("Running", Reason.IMAGE_PULL_FAILED)
    assert late["phase"] == Phase.FAILED
    ready = cond(late, Condition.READY)
    assert ready["reason"] == Reason.IMAGE_PULL_FAILED
    assert ready["message"].startswith("Job migrate: ImagePullFailed: image nope/api:1")
