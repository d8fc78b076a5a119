"""The CI recipes in examples/ci/, run as their CI systems would run them (see ci_recipes),
with the variables those systems set, against the local cluster: a pull request's
environment comes up, the command runs against it, a failure ends early with the reason in
the step summary and a diagnostics bundle, and the environment is deleted at the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localcluster
from tests.e2e import ci_recipes
from tests.e2e.helpers import Kubectl, Operator, apply, devenv, unique, wait_for

pytestmark = pytest.mark.e2e

# A command that proves it ran against the environment: its variables are set and the
# namespace they name exists with the api service in it.
CHECK_COMMAND = (
    'test -n "$DEVENV_NAME" && test -n "$DEVENV_NAMESPACE" && '
    'echo "$DEVENV_ENDPOINTS" | grep -q "api.$DEVENV_NAMESPACE.svc.cluster.local:8080" && '
    'kubectl get service api -n "$DEVENV_NAMESPACE" -o name && echo COMMAND-RAN')


@pytest.fixture
def kubeconfig(cluster: localcluster.Cluster) -> str:
    return str(cluster.kubeconfig)


@pytest.fixture
def template(kubectl: Kubectl) -> Iterator[str]:
    name = unique("shop")
    apply(kubectl, {
        "apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
        "metadata": {"name": name},
        "spec": {
            "parameters": [{"name": "apiImage", "type": "image", "required": True}],
            "services": [
                {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}]},
                {"name": "api", "image": "$(params.apiImage)", "dependsOn": ["db"],
                 "ports": [{"name": "http", "port": 8080}]}]}})
    yield name
    kubectl("delete", "devenvironmenttemplate", name, "--ignore-not-found")


def github_env(repository: str, pr: int) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repository,
            "GITHUB_REF": f"refs/pull/{pr}/merge", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_RUN_ID": "9000001", "GITHUB_SHA": "0" * 40,
            "GITHUB_SERVER_URL": "https://github.example.com"}


def gitlab_env(project: str, mr: int) -> dict[str, str]:
    return {"GITLAB_CI": "true", "CI_PROJECT_PATH": project, "CI_MERGE_REQUEST_IID": str(mr),
            "CI_PIPELINE_ID": "424242", "CI_COMMIT_SHA": "1" * 40}


def gone_or_deleting(kubectl: Kubectl, name: str) -> bool:
    env = devenv(kubectl, name)
    return env is None or bool(env["metadata"].get("deletionTimestamp"))


def track(names: list[str], name: str) -> str:
    assert name, "the recipe reported no environment name"
    names.append(name)
    return name


def bundle_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# -- GitHub ---------------------------------------------------------------------------------


def test_github_action_runs_the_command_against_a_ready_environment_then_deletes_it(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_github_action(
        tmp_path, kubeconfig,
        {"template": template, "parameters": "apiImage=shop/api:pr-1234\n",
         "labels": "team=shop", "ttl": "1h", "timeout": "2m", "command": CHECK_COMMAND},
        github_env("acme/shop", 1234))
    name = track(names, run.outputs["name"])
    assert run.ok, run.log
    assert "COMMAND-RAN" in run.log
    assert "1234" in name
    assert name.startswith("shop-")
    assert run.outputs["namespace"]
    endpoints = json.loads(run.outputs["endpoints"])
    assert {"service": "api", "port": 8080,
            "internal": f"api.{run.outputs['namespace']}.svc.cluster.local:8080"} in endpoints
    assert "Ready" in run.summary
    # Deleted at the end because a command ran.
    wait_for(lambda: gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_github_action_names_do_not_collide_between_repositories(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    made = []
    for repo in ("acme/shop", "other/shop"):
        workdir = tmp_path / repo.replace("/", "-")
        workdir.mkdir()
        run = ci_recipes.run_github_action(
            workdir, kubeconfig,
            {"template": template, "parameters": "apiImage=shop/api:1", "timeout": "2m"},
            github_env(repo, 7))
        assert run.ok, run.log
        made.append(track(names, run.outputs["name"]))
        # No command: the environment stays for the job's next steps.
        assert not gone_or_deleting(kubectl, made[-1])
    assert made[0] != made[1]


def test_github_action_fails_fast_with_the_reason_in_the_summary_and_keeps_diagnostics(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_github_action(
        tmp_path, kubeconfig,
        {"template": template, "parameters": "apiImage=crashloop.invalid/shop/api:pr-5",
         "timeout": "5m", "command": "echo SHOULD-NOT-RUN"},
        github_env("acme/shop", 5))
    name = track(names, run.outputs["name"])
    assert not run.ok
    up = next(s for s in run.steps if s.name.startswith("Create"))
    assert up.returncode == 1, run.log  # Failed, at once: not the 5 minute timeout
    assert "SHOULD-NOT-RUN" not in run.log
    assert "CrashLooping" in run.summary
    assert "api" in run.summary
    assert "CrashLooping" in up.output
    bundle = tmp_path / "devenv-diagnostics" / name
    files = bundle_files(bundle)
    assert files, run.log
    assert any("event" in f.lower() for f in files), files
    assert any(f.endswith(".log") or "log" in f.lower() for f in files), files
    wait_for(lambda: gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


# -- GitLab ---------------------------------------------------------------------------------


def test_gitlab_job_exports_the_environment_and_deletes_it_after_the_script(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_gitlab_job(
        tmp_path, kubeconfig, ".devenv",
        {**gitlab_env("acme/shop", 77), "DEVENV_TEMPLATE": template,
         "DEVENV_PARAMETERS": "apiImage=shop/api:mr-77\n", "DEVENV_TIMEOUT": "2m",
         # GitLab expands variables in variables: $$ keeps a $ for the script.
         "DEVENV_COMMAND": CHECK_COMMAND.replace("$", "$$")})
    name = track(names, run.outputs.get("DEVENV_NAME", ""))
    assert run.ok, run.log
    assert "COMMAND-RAN" in run.log
    assert "77" in name
    assert run.outputs["DEVENV_NAMESPACE"]
    assert json.loads(run.outputs["DEVENV_ENDPOINTS"])
    assert not (tmp_path / "devenv-diagnostics").exists()
    wait_for(lambda: gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_gitlab_job_failure_keeps_diagnostics_as_artifacts(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_gitlab_job(
        tmp_path, kubeconfig, ".devenv",
        {**gitlab_env("acme/shop", 78), "DEVENV_TEMPLATE": template,
         "DEVENV_PARAMETERS": "apiImage=shop/api:mr-78", "DEVENV_TIMEOUT": "2m",
         "DEVENV_COMMAND": "echo tests failing; exit 7"})
    name = track(names, run.outputs.get("DEVENV_NAME", ""))
    script, after = run.steps
    assert script.returncode == 7, run.log
    assert after.returncode == 0, run.log
    assert bundle_files(tmp_path / "devenv-diagnostics" / name), run.log
    assert (tmp_path / "devenv-summary.md").read_text().strip()
    wait_for(lambda: gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


# -- Tekton ---------------------------------------------------------------------------------


def test_tekton_tasks_create_with_results_then_delete(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_tekton_task(
        tmp_path, kubeconfig, "devenv-create",
        {"template": template, "parameters": "apiImage=shop/api:pr-42", "name-prefix": "shop",
         "name-id": "42", "timeout": "2m"}, diagnostics=True)
    name = track(names, run.outputs.get("name", ""))
    assert run.ok, run.log
    assert name.startswith("shop-42")
    env: dict[str, Any] = devenv(kubectl, name) or {}
    assert env["status"]["phase"] == "Ready"
    assert run.outputs["namespace"] == env["status"]["namespace"]
    assert json.loads(run.outputs["endpoints"]) == env["status"]["endpoints"]
    # The same PipelineRun id again reuses the environment (a retried TaskRun).
    (tmp_path / "again").mkdir()
    again = ci_recipes.run_tekton_task(
        tmp_path / "again", kubeconfig, "devenv-create",
        {"template": template, "parameters": "apiImage=shop/api:pr-42", "name-prefix": "shop",
         "name-id": "42", "timeout": "2m"})
    assert again.ok, again.log
    assert again.outputs["name"] == name

    deleted = ci_recipes.run_tekton_task(tmp_path, kubeconfig, "devenv-delete",
                                         {"name": name})
    assert deleted.ok, deleted.log
    wait_for(lambda: gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_tekton_create_failure_writes_the_bundle_to_the_workspace(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    run = ci_recipes.run_tekton_task(
        tmp_path, kubeconfig, "devenv-create",
        {"template": template, "parameters": "apiImage=crashloop.invalid/shop/api:1",
         "name-prefix": "shop", "name-id": "43", "timeout": "3m"}, diagnostics=True)
    name = track(names, run.outputs.get("name", ""))
    assert run.steps[0].returncode == 1, run.log
    assert "CrashLooping" in run.log
    assert bundle_files(tmp_path / "workspace-diagnostics" / name)


# -- plain shell ----------------------------------------------------------------------------


def test_the_shell_recipe_passes_the_command_s_exit_code_and_cleans_up(
        kubectl: Kubectl, running_operator: Operator, names: list[str], template: str,
        kubeconfig: str, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    ok = ci_recipes.run_shell(
        tmp_path, kubeconfig,
        ["--template", template, "--set", "apiImage=shop/api:1", "--name-prefix", "sh",
         "--name-id", "1", "--", "bash", "-c", CHECK_COMMAND],
        {"DEVENV_TIMEOUT": "2m", "DEVENV_SUMMARY": str(summary)})
    assert ok.ok, ok.log
    assert "COMMAND-RAN" in ok.log
    assert "Ready" in summary.read_text()
    failing = ci_recipes.run_shell(
        tmp_path, kubeconfig,
        ["--template", template, "--set", "apiImage=shop/api:1", "--name-prefix", "sh",
         "--name-id", "2", "--", "bash", "-c", "exit 7"], {"DEVENV_TIMEOUT": "2m"})
    assert failing.steps[0].returncode == 7, failing.log
    bundles = list((tmp_path / "devenv-diagnostics").iterdir())
    assert len(bundles) == 1
    assert bundle_files(bundles[0])
    failed = track(names, bundles[0].name)
    wait_for(lambda: gone_or_deleting(kubectl, failed), 30, what=f"{failed} deleted")
