"""spec.jobs on the real apiserver and Job controller (kwok runs the pods: a Job's pod
succeeds, or fails when its image starts with ``fail.invalid/``; see localcluster.stages).

A job waits for the services it depends on and a service for the job it depends on; the
environment is Ready only once every job has completed; a failing job fails it at once
(JobFailed, with Event, status.jobs and `kubectl devenv wait` exit 1 naming the job); a
job reruns only when its rendered spec changes, or on `kubectl devenv rerun-job`. Every
new field is validated at apply (nothing is created for a bad one), served in the CRD and
explained by `kubectl explain`. What the job prints is proven on a real node
(tests/real/test_jobs.py): kwok serves no logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localcluster
from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    events_for,
    get,
    items,
    kubectl_path,
    manifest,
    unique,
    wait_for,
    wait_ready,
    wait_reason,
)

pytestmark = pytest.mark.e2e

UNPULLABLE = "unpullable.invalid/postgres:16"
DB = {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}]}
MIGRATE = {"name": "migrate", "image": "registry.example.com/shop/api:1",
           "command": ["./manage", "migrate"], "dependsOn": ["db"]}
API = {"name": "api", "image": "registry.example.com/shop/api:1", "dependsOn": ["db", "migrate"]}


@pytest.fixture
def cli(cluster: localcluster.Cluster) -> Any:
    """Run ``kubectl devenv ARGS`` as a CI job does (KUBECONFIG); never checks."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
           "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    for ci in ("GITHUB_ACTIONS", "GITLAB_CI", "KUBERNETES_SERVICE_HOST"):
        env.pop(ci, None)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl_path(), "devenv", *args], capture_output=True,
                              text=True, env=env, timeout=timeout)
    return run


def jobs_of(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    return items(kubectl, "jobs", "-n", f"dev-{name}")


def status_job(env: dict[str, Any] | None, job: str = "migrate") -> dict[str, Any]:
    return next((j for j in ((env or {}).get("status") or {}).get("jobs") or []
                 if j["name"] == job), {})


def created(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["creationTimestamp"])


def test_a_job_waits_for_db_api_waits_for_the_job_and_ready_waits_for_both(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    name = unique("jobs")
    names.append(name)
    apply(kubectl, manifest(name, services=[{**DB, "image": UNPULLABLE}, API],
                            jobs=[MIGRATE]))
    # db cannot become Available: migrate is not created, nor api.
    env = wait_for(lambda: (e := devenv(kubectl, name)) and status_job(e) and e, 60,
                   what="status.jobs")
    waiting = status_job(env)
    assert (waiting["state"], waiting["reason"]) == ("Pending", "DependencyNotReady")
    assert "db" in waiting["message"]
    assert jobs_of(kubectl, name) == []
    assert get(kubectl, "deployment", "api", "-n", f"dev-{name}") is None
    assert condition(env, "JobsComplete")["status"] == "False"
    assert env["status"]["phase"] != "Ready"

    kubectl("patch", "devenvironment", name, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/services/0/image", "value": "postgres:16"}]))
    env = wait_ready(kubectl, name, generation=2)
    (job,) = jobs_of(kubectl, name)
    assert job["metadata"]["name"] == status_job(env)["jobName"]
    assert job["metadata"]["name"].startswith("migrate-")
    assert job["metadata"]["labels"]["shipit.dev/environment"] == name
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "ttlSecondsAfterFinished" not in job["spec"]
    done = status_job(env)
    assert (done["state"], done["attempts"]) == ("Complete", 1)
    assert done["completedAt"] == job["status"]["completionTime"]
    assert done["startedAt"] == job["status"]["startTime"]
    assert condition(env, "JobsComplete")["status"] == "True"
    assert condition(env, "Ready")["message"] == (
        "All 2 services are available and 1 job complete")
    # The order, as the API server recorded it: db's rollout, then the Job, then api.
    db = get(kubectl, "deployment", "db", "-n", f"dev-{name}") or {}
    api = get(kubectl, "deployment", "api", "-n", f"dev-{name}") or {}
    assert created(job) >= db["metadata"]["creationTimestamp"]
    assert created(api) >= job["status"]["completionTime"]


def test_a_failing_job_fails_the_environment_at_once_and_wait_names_it(
        kubectl: Kubectl, running_operator: Operator, names: list[str], cli: Any) -> None:
    name = unique("jobfail")
    names.append(name)
    apply(kubectl, manifest(name, services=[DB, API], jobs=[
        {**MIGRATE, "image": "fail.invalid/shop/api:1", "backoffLimit": 0}]))
    env = wait_reason(kubectl, name, "JobFailed", timeout=90)
    assert env["status"]["phase"] == "Failed"
    assert condition(env, "Stalled")["status"] == "True"
    assert condition(env, "Stalled")["reason"] == "JobFailed"
    message = condition(env, "Ready")["message"]
    assert message.startswith("Job migrate failed after 1 attempt: BackoffLimitExceeded"), message
    failed = status_job(env)
    assert (failed["state"], failed["reason"], failed["attempts"]) == ("Failed", "JobFailed", 1)
    # kwok serves no logs: the status says why there are none (a real node shows them).
    assert "\nlast log lines:\n" in failed["message"]
    assert get(kubectl, "deployment", "api", "-n", f"dev-{name}") is None  # waits for it
    events = wait_for(lambda: [e for e in events_for(kubectl, name)
                               if e["reason"] == "JobFailed" and e["type"] == "Warning"
                               and "last log lines:" in e["message"]], 30,
                      what="the JobFailed Event with the log")
    assert events[0]["message"].startswith(f"Job migrate ({failed['jobName']}) failed")

    proc = cli("wait", name, "--timeout", "60s", "--stable-for", "0s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"devenv {name} Failed: JobFailed: Job migrate failed" in proc.stdout
    assert "Jobs not complete:" in proc.stdout
    assert f"Last log lines of job migrate ({failed['jobName']}):" in proc.stdout


def test_a_job_whose_image_cannot_be_pulled_fails_early_like_a_service(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(failFast={"imagePullFailAfter": "5s"})
    name = unique("jobpull")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[DB], jobs=[
        {**MIGRATE, "image": "unpullable.invalid/shop/api:1"}]))
    env = wait_reason(kubectl, name, "ImagePullFailed", timeout=90)
    assert env["status"]["phase"] == "Failed"
    message = condition(env, "Ready")["message"]
    assert message.startswith("Job migrate: ImagePullFailed: image "
                              "unpullable.invalid/shop/api:1"), message
    assert condition(env, "JobsComplete")["reason"] == "ImagePullFailed"
    assert status_job(env)["reason"] == "ImagePullFailed"


def test_a_job_reruns_only_when_its_spec_changes_or_on_rerun_job(
        kubectl: Kubectl, running_operator: Operator, names: list[str], cli: Any) -> None:
    name = unique("rerun")
    names.append(name)
    apply(kubectl, manifest(name, services=[DB, API], jobs=[MIGRATE]))
    env = wait_ready(kubectl, name)
    first = status_job(env)["jobName"]
    # Something else changes: the same Job (it does not run again).
    kubectl("patch", "devenvironment", name, "--type=json", "-p", json.dumps(
        [{"op": "add", "path": "/spec/services/1/replicas", "value": 2}]))
    wait_ready(kubectl, name, generation=2)
    assert [j["metadata"]["name"] for j in jobs_of(kubectl, name)] == [first]
    # The job's own spec changes: a new Job, and the older one is deleted.
    kubectl("patch", "devenvironment", name, "--type=json", "-p", json.dumps(
        [{"op": "add", "path": "/spec/jobs/0/args", "value": ["--verbose"]}]))
    env = wait_ready(kubectl, name, generation=3)
    second = status_job(env)["jobName"]
    assert second != first
    wait_for(lambda: [j["metadata"]["name"] for j in jobs_of(kubectl, name)] == [second], 30,
             what="only the new Job left")
    # On purpose: rerun-job makes a new Job of the same spec; Ready waits for it again.
    proc = cli("rerun-job", name, "migrate")
    assert proc.returncode == 0, proc.stderr
    third = proc.stdout.strip()
    assert third.startswith("migrate-")
    assert third not in (first, second)
    assert f"reruns as Job {third} (was {second})" in proc.stderr
    annotations = (devenv(kubectl, name) or {})["metadata"]["annotations"]
    assert "rerun.shipit.dev/migrate" in annotations
    env = wait_for(lambda: (e := devenv(kubectl, name)) and status_job(e)["jobName"] == third
                   and status_job(e)["state"] == "Complete" and e["status"]["phase"] == "Ready"
                   and e, 60, what="the rerun complete and Ready again")
    assert [j["metadata"]["name"] for j in jobs_of(kubectl, name)] == [third]
    proc = cli("rerun-job", name, "nope")
    assert proc.returncode == 1
    assert "has no job nope (jobs: migrate)" in proc.stderr


def test_a_template_declares_a_job_with_a_parameter(
        kubectl: Kubectl, running_operator: Operator, names: list[str]) -> None:
    template = unique("tpl")
    apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
                    "metadata": {"name": template}, "spec": {
                        "parameters": [{"name": "apiImage", "type": "image", "required": True}],
                        "services": [DB, {**API, "image": "$(params.apiImage)"}],
                        "jobs": [{**MIGRATE, "image": "$(params.apiImage)"}]}})
    try:
        name = unique("tpljob")
        names.append(name)
        apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironment",
                        "metadata": {"name": name}, "spec": {
                            "templateRef": {"name": template},
                            "parameters": {"apiImage": "registry.example.com/shop/api:7"},
                            # An override names its image, as a service's does (the
                            # schema requires it); the rest comes from the template.
                            "jobs": [{"name": "migrate", "args": ["--check"],
                                      "image": "registry.example.com/shop/api:7"}]}})
        env = wait_ready(kubectl, name)
        assert env["status"]["template"]["name"] == template
        (job,) = jobs_of(kubectl, name)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "registry.example.com/shop/api:7"
        assert container["args"] == ["--check"]
        assert container["command"] == ["./manage", "migrate"]
        assert status_job(env)["state"] == "Complete"
    finally:
        kubectl("delete", "devenvironmenttemplate", template, "--ignore-not-found")


BAD = [
    ([{**MIGRATE, "name": "db"}], "a job cannot have the name of a service"),
    ([{**MIGRATE, "dependsOn": ["cache"]}], "every jobs[].dependsOn entry must name a service "
     "or a job"),
    ([{**MIGRATE, "dependsOn": ["migrate"]}], "a job cannot depend on itself"),
    ([{**MIGRATE, "backoffLimit": -1}], "backoffLimit"),
    ([{**MIGRATE, "backoffLimit": 11}], "backoffLimit"),
    ([{**MIGRATE, "activeDeadlineSeconds": 0}], "activeDeadlineSeconds"),
    ([{**MIGRATE, "name": "m" * 53}], "name"),
    ([{**MIGRATE, "name": "Migrate"}], "name"),
    ([{"name": "migrate"}], "image"),
    ([{**MIGRATE, "imagePullPolicy": "Sometimes"}], "imagePullPolicy"),
    ([{**MIGRATE, "restartPolicy": "Always"}], "restartPolicy"),
]


@pytest.mark.parametrize(("jobs", "words"), BAD)
def test_bad_jobs_are_refused_at_apply_and_nothing_is_created(
        kubectl: Kubectl, running_operator: Operator, jobs: list[dict[str, Any]],
        words: str) -> None:
    obj = manifest(unique("badjob"), services=[DB], jobs=jobs)
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0, json.dumps(obj)[:300]
    assert words in proc.stderr, proc.stderr
    assert get(kubectl, "devenvironment", obj["metadata"]["name"]) is None


def test_a_service_depending_on_an_unknown_job_is_refused_at_apply(
        kubectl: Kubectl, running_operator: Operator) -> None:
    obj = manifest(unique("badjob"), services=[DB, API])
    proc = apply(kubectl, obj, check=False)
    assert proc.returncode != 0
    assert "every services[].dependsOn entry must name a service or a job" in proc.stderr


FIELDS = ["name", "image", "imagePullPolicy", "workingDir", "command", "args", "env",
          "envFrom", "resources", "securityContext", "backoffLimit", "activeDeadlineSeconds",
          "dependsOn", "volumes"]


def test_every_job_field_is_in_the_served_crd_and_explained(kubectl: Kubectl, crds: None) -> None:
    crd = get(kubectl, "crd", "devenvironments.shipit.dev") or {}
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jobs = schema["properties"]["spec"]["properties"]["jobs"]
    assert jobs["x-kubernetes-list-type"] == "map"
    assert set(FIELDS) == set(jobs["items"]["properties"])
    # No API-server default: an override of a template's job must not reset its value.
    assert "default" not in jobs["items"]["properties"]["backoffLimit"]
    status = schema["properties"]["status"]["properties"]["jobs"]["items"]["properties"]
    assert {"name", "state", "attempts", "startedAt", "completedAt", "message"} <= set(status)
    for field in FIELDS:
        text = kubectl("explain", f"devenvironment.spec.jobs.{field}").stdout
        assert "DESCRIPTION" in text, text
        assert "<empty>" not in text, text
    assert "JobFailed" in kubectl("explain", "devenvironment.spec.jobs").stdout
    assert "Complete" in kubectl("explain", "devenvironment.status.jobs.state").stdout
    template = kubectl("explain", "devenvironmenttemplate.spec.jobs", "--recursive").stdout
    assert "backoffLimit" in template, template


def test_the_class_bounds_jobs_at_apply_and_in_the_operator(
        kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(images={"allowedRegistries": ["registry.example.com/", "postgres"]},
                     workloadSecurity={"allowRoot": False})
    evil = {**MIGRATE, "image": "docker.io/evil/migrate:1"}
    # The operator: PolicyViolation naming the job, nothing created.
    name = unique("jobclass")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[DB], jobs=[evil]))
    env = wait_reason(kubectl, name, "PolicyViolation")
    message = condition(env, "Ready")["message"]
    assert "job migrate: image docker.io/evil/migrate:1 is not from an allowed registry" in \
        message, message
    assert get(kubectl, "namespace", f"dev-{name}") is None
    # The shipped class policy, at apply.
    policy = ROOT / "deploy" / "admission" / "class-policy.yaml"
    kubectl("apply", "-f", str(policy))
    try:
        def refusal(job: dict[str, Any], words: str) -> str | None:
            obj = manifest(unique("jobcel"), className=cls, services=[DB], jobs=[job])
            proc = kubectl("apply", "--dry-run=server", "-f", "-", check=False,
                           input=json.dumps(obj))
            return proc.stderr if words in (proc.stderr or "") else None

        for job, words in ((evil, "spec.jobs[].image"),
                           ({**MIGRATE, "securityContext": {"runAsUser": 0}},
                            "which job migrate asks for with runAsUser: 0")):
            error = wait_for(lambda j=job, w=words: refusal(j, w), 30, interval=1,
                             what=f"a refusal naming {words}")
            assert f"class {cls}" in error, error
    finally:
        kubectl("delete", "-f", str(policy), "--ignore-not-found")
