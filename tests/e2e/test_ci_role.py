"""Every CI flow of docs/ci.md, run by an identity bound to the `devenv-operator-ci`
ClusterRole (deploy/user-roles.yaml) and to nothing else, with the admission policies of
deploy/admission/ in force: a pipeline that follows the docs is never refused.

The identity is a ServiceAccount (as a Tekton TaskRun's, or a pipeline's token) whose
kubeconfig holds a token of it; its only binding is one ClusterRoleBinding of the CI role.
Inside each environment's namespace it has what the docs promise and nothing more: the
class's ownerRole (`devenv-owner` here, as in the shipped default class), which the operator binds
because the identity owns what it creates.

Beside it, the roles for people: `devenv-operator-edit` alone is not enough for a
pipeline, and the built-in `view` (devenv-operator-view aggregated) reads classes and
templates.

The module applies the user roles, the policies, a class and a template, and removes what
it added at its end.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import localcluster
from tests.e2e import ci_recipes
from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    devenv,
    get,
    kubectl_path,
    manifest,
    run_kubectl,
    unique,
    wait_for,
    yaml_docs,
)

pytestmark = pytest.mark.e2e

CI_ROLE = "devenv-operator-ci"
USER_ROLES = ROOT / "deploy" / "user-roles.yaml"
ADMISSION = ROOT / "deploy" / "admission"
CRASHING = "crashloop.invalid/shop/api:broken"  # kwok: the container exits, again and again


@dataclass(frozen=True)
class Pipeline:
    """The CI identity and what the platform team set up for it."""

    kubeconfig: Path
    username: str
    template: str
    cls: str


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig with the admin's server and CA, and a ServiceAccount token."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:
        cluster = {"server": cluster["server"], "certificate-authority-data": base64.b64encode(
            Path(cluster["certificate-authority"]).read_bytes()).decode()}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "ci", "user": {"token": token}}],
        "contexts": [{"name": "ci", "context": {"cluster": "local", "user": "ci"}}],
        "current-context": "ci"}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def pipeline(cluster: localcluster.Cluster, kubectl: Kubectl, crds: None,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    suffix = unique("ci-role")
    namespace, account = suffix, "runner"
    username = f"system:serviceaccount:{namespace}:{account}"
    roles = [d for d in yaml_docs(USER_ROLES) if get(kubectl, "clusterrole",
                                                 d["metadata"]["name"]) is None]
    policies_before = get(kubectl, "validatingadmissionpolicy", "devenv-ownership")
    made: list[tuple[str, str]] = []  # (resource, name), deleted at the end in reverse
    try:
        kubectl("apply", "-f", str(USER_ROLES))
        made += [("clusterrole", d["metadata"]["name"]) for d in roles]
        apply(kubectl, [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": account, "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": suffix},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": CI_ROLE},
             "subjects": [{"kind": "ServiceAccount", "name": account,
                           "namespace": namespace}]},
            # The platform lets the pipeline use its class (class authorization).
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": f"{suffix}-class"},
             "rules": [{"apiGroups": ["shipit.dev"], "resources": ["devenvironmentclasses"],
                        "resourceNames": [suffix], "verbs": ["use"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": f"{suffix}-class"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": f"{suffix}-class"},
             "subjects": [{"kind": "ServiceAccount", "name": account,
                           "namespace": namespace}]},
            # The platform's class: the shipped default class's ownerRole, and fail-fast
            # thresholds a test can wait for.
            {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
             "metadata": {"name": suffix},
             "spec": {"ownerRole": "devenv-owner", "networkPolicy": "none",
                      "failFast": {"crashLoopRestarts": 2, "imagePullFailAfter": "10s"}}},
            {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
             "metadata": {"name": suffix},
             "spec": {"className": suffix, "parameters": [
                 {"name": "apiImage", "type": "image", "required": True}],
                 "services": [
                     {"name": "db", "image": "postgres:16",
                      "ports": [{"name": "pg", "port": 5432}]},
                     {"name": "api", "image": "$(params.apiImage)", "dependsOn": ["db"],
                      "ports": [{"name": "http", "port": 8080}]}]}}])
        made += [("clusterrolebinding", suffix), ("clusterrolebinding", f"{suffix}-class"),
                 ("clusterrole", f"{suffix}-class"), ("namespace", namespace),
                 ("devenvironmentclass", suffix), ("devenvironmenttemplate", suffix)]
        if policies_before is None:
            kubectl("apply", "-k", str(ADMISSION))
        token = kubectl("create", "token", account, "-n", namespace,
                        "--duration=1h").stdout.strip()
        path = token_kubeconfig(cluster.kubeconfig, token,
                                tmp_path_factory.mktemp("ci") / "kubeconfig")
        ci = Pipeline(path, username, suffix, suffix)
        wait_for(lambda: _policies_act(ci), timeout=30, interval=0.5,
                 what="the CI role to be bound and the admission policies to act")
        yield ci
    finally:
        # The identity's environments first (their class and template go next).
        for env in json.loads(kubectl("get", "devenvironments", "-o", "json").stdout)["items"]:
            if (env.get("spec") or {}).get("owner") == username:
                kubectl("delete", "devenvironment", env["metadata"]["name"],
                        "--ignore-not-found", "--wait=true", "--timeout=60s", check=False)
        if policies_before is None:
            kubectl("delete", "-k", str(ADMISSION), "--ignore-not-found")
        for resource, name in reversed(made):
            kubectl("delete", resource, name, "--ignore-not-found", "--wait=false")


def as_ci(ci: Pipeline, *args: str, input: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    """kubectl with the CI identity's kubeconfig (never checks)."""
    return run_kubectl(ci.kubeconfig, *args, input=input, check=False)


def _policies_act(ci: Pipeline) -> bool:
    """The identity may create, and a create without an owner gets the identity's."""
    probe = as_ci(ci, "create", "--dry-run=server", "-o", "json", "-f", "-",
                  input=json.dumps(manifest(unique("ci-probe"), className=ci.cls)))
    return probe.returncode == 0 and json.loads(probe.stdout)["spec"].get("owner") == ci.username


def plugin(ci: Pipeline, *args: str, env: dict[str, str] | None = None,
           timeout: float = 150) -> subprocess.CompletedProcess[str]:
    """``kubectl devenv ARGS`` as the CI identity, in a CI job's environment (only the CI
    variables given, kubectl and the installed plugin on PATH)."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "DEVENV_", "KUBERNETES_"))}
    full["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), full.get("PATH", "")])
    full.update(KUBECONFIG=str(ci.kubeconfig), **(env or {}))
    proc = subprocess.run([kubectl_path(), "devenv", *args], capture_output=True, text=True,
                          env=full, timeout=timeout, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def never_refused(*outputs: str) -> None:
    """Nothing the CI identity asked for was forbidden, nor left out of a report."""
    for text in outputs:
        assert "forbidden" not in text.lower(), text
        assert "could not collect" not in text.lower(), text


def github(repository: str, pr: int) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repository,
            "GITHUB_REF": f"refs/pull/{pr}/merge", "GITHUB_RUN_ID": "5150",
            "GITHUB_SHA": "a" * 40, "GITHUB_SERVER_URL": "https://github.example.com"}


def bundle(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*")
            if p.is_file()}


# A command a pipeline runs against its environment: the variables, and the namespace's
# Service read with the identity's own rights there (the class's ownerRole).
CHECK_COMMAND = (
    'test -n "$DEVENV_NAME" && '
    'echo "$DEVENV_ENDPOINTS" | grep -q "api.$DEVENV_NAMESPACE.svc.cluster.local:8080" && '
    'kubectl get service api -n "$DEVENV_NAMESPACE" -o name && echo COMMAND-RAN')


def test_the_ci_identity_is_bound_to_the_ci_role_alone(kubectl: Kubectl,
                                                        pipeline: Pipeline) -> None:
    namespace, account = pipeline.username.split(":")[2:]
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    bindings = [b for kind in ("clusterrolebindings", "rolebindings")
                for b in json.loads(kubectl("get", kind, "-A", "-o", "json").stdout)["items"]
                if subject in (b.get("subjects") or [])]
    # The CI role, and the use of the platform's class (which grants nothing else).
    assert sorted((b["kind"], b["roleRef"]["name"]) for b in bindings) == [
        ("ClusterRoleBinding", f"{pipeline.cls}-class"), ("ClusterRoleBinding", CI_ROLE)]
    # What the role leaves out stays out.
    for check in (["update", "devenvironments.shipit.dev"],
                  ["patch", "devenvironments.shipit.dev", "--subresource=status"],
                  ["create", "devenvironmenttemplates.shipit.dev"],
                  ["get", "secrets"], ["list", "pods"], ["get", "pods", "--subresource=log"]):
        assert as_ci(pipeline, "auth", "can-i", *check, "-A").stdout.strip() == "no", check
    assert as_ci(pipeline, "auth", "can-i", "create", "devenvironments.shipit.dev"
                 ).stdout.strip() == "yes"


def test_the_edit_role_alone_is_not_enough_for_a_pipeline(
        cluster: localcluster.Cluster, kubectl: Kubectl, pipeline: Pipeline,
        tmp_path: Path) -> None:
    """What docs/ci.md says of devenv-operator-edit: without get, create is refused."""
    namespace = pipeline.username.split(":")[2]
    binding = unique("ci-edit-only")
    apply(kubectl, [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "edit-only", "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": binding},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "devenv-operator-edit"},
         "subjects": [{"kind": "ServiceAccount", "name": "edit-only",
                       "namespace": namespace}]}])
    try:
        token = kubectl("create", "token", "edit-only", "-n", namespace,
                        "--duration=10m").stdout.strip()
        edit_only = Pipeline(token_kubeconfig(cluster.kubeconfig, token,
                                              tmp_path / "kubeconfig"),
                             f"system:serviceaccount:{namespace}:edit-only",
                             pipeline.template, pipeline.cls)
        refused = plugin(edit_only, "create", "--template", pipeline.template,
                         "--set", "apiImage=shop/api:1", "--name-prefix", "edit", "--name-id",
                         "1")
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert "forbidden" in refused.stderr.lower(), refused.stderr
    finally:
        kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


def test_a_pipeline_step_by_hand_creates_waits_reads_extends_diagnoses_and_deletes(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    """docs/cli.md's "A CI step, by hand" and the rest of docs/ci.md, command by command,
    with the name derived from GitHub's variables."""
    ci_env = github("acme/shop", 4711)
    created = plugin(pipeline, "create", "--template", pipeline.template,
                     "--set", "apiImage=shop/api:pr-4711", "--ttl", "2h", env=ci_env)
    assert created.returncode == 0, created.stderr
    name = created.stdout.strip()
    names.append(name)
    assert name.startswith("shop-pr-4711-"), name
    assert f"devenvironment/{name} created" in created.stderr
    env = devenv(kubectl, name) or {}
    assert env["spec"]["owner"] == pipeline.username
    assert env["metadata"]["labels"]["shipit.dev/ci-repository"] == "acme.shop"

    summary = tmp_path / "summary.md"
    waited = plugin(pipeline, "wait", name, "--timeout", "2m", "--summary", str(summary))
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert summary.read_text().startswith(f"## DevEnvironment `{name}` is Ready")
    # kubectl wait works for the identity too (the docs' alternative).
    plain = as_ci(pipeline, "wait", f"devenv/{name}", "--for=condition=Ready", "--timeout=30s")
    assert plain.returncode == 0, plain.stderr

    endpoints = plugin(pipeline, "endpoints", name, "-o", "json")
    assert endpoints.returncode == 0, endpoints.stderr
    # Read again: `env` was read right after the create, maybe before any status.
    namespace = (devenv(kubectl, name) or {})["status"]["namespace"]
    assert {"service": "api", "port": 8080,
            "internal": f"api.{namespace}.svc.cluster.local:8080"} in json.loads(endpoints.stdout)

    extended = plugin(pipeline, "extend", name, "4h")
    assert extended.returncode == 0, extended.stderr
    assert extended.stdout.strip() == (devenv(kubectl, name) or {})["status"]["expiresAt"]
    assert "now expires at" in extended.stderr

    again = plugin(pipeline, "create", "--template", pipeline.template,
                   "--set", "apiImage=shop/api:pr-4711", "--ttl", "2h", env=ci_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == name
    assert "reused" in again.stderr

    mine = plugin(pipeline, "list", "--mine", "-o", "json")
    assert mine.returncode == 0, mine.stderr
    assert name in [e["name"] for e in json.loads(mine.stdout)]
    rendered = plugin(pipeline, "render", "--template", pipeline.template,
                      "--set", "apiImage=shop/api:pr-4711")
    assert rendered.returncode == 0, rendered.stderr
    assert yaml.safe_load(rendered.stdout)["spec"]["services"][1]["image"] == "shop/api:pr-4711"

    out = tmp_path / "diagnosis"
    diagnosed = plugin(pipeline, "diagnose", name, "-o", str(out))
    assert diagnosed.returncode == 0, diagnosed.stderr
    files = bundle(out)
    assert f"devenvironment/{name}" in files["events.txt"]
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"]
            for p in yaml.safe_load(files["pods.yaml"])} == {"db", "api"}
    never_refused(created.stderr, waited.stdout, waited.stderr, summary.read_text(),
                  endpoints.stderr, extended.stderr, again.stderr, diagnosed.stderr,
                  *files.values())

    deleted = plugin(pipeline, "delete", name, "--wait", "--timeout", "90s")
    assert deleted.returncode == 0, deleted.stderr
    assert devenv(kubectl, name) is None
    assert plugin(pipeline, "delete", name).returncode == 0  # a clean-up step can always run


def test_a_failure_is_reported_in_full_to_the_ci_identity(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    """wait exits 1 at once with the conditions, blocked services, Events and the container's
    last log lines, and diagnose keeps them: every part readable with the CI role and the
    class's ownerRole."""
    summary = tmp_path / "summary.md"
    proc = plugin(pipeline, "create", "--template", pipeline.template,
                  "--set", f"apiImage={CRASHING}", "--name-prefix", "shop", "--name-id", "crash",
                  "--wait", "--timeout", "2m", "--summary", str(summary))
    name = proc.stdout.strip()  # the name on stdout; with --wait the report goes to stderr
    names.append(name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = proc.stderr
    assert f"devenv {name} Failed: CrashLooping: " in report
    for part in ("Conditions:", "Blocked services:", "Containers not ready:", "Recent Events",
                 f"Logs of dev-{name}/api-"):
        assert part in report, (part, report)
    assert "CrashLooping" in summary.read_text()
    stalled = as_ci(pipeline, "wait", f"devenv/{name}", "--for=condition=Stalled",
                    "--timeout=30s")
    assert stalled.returncode == 0, stalled.stderr

    out = tmp_path / "diagnosis"
    diagnosed = plugin(pipeline, "diagnose", name, "-o", str(out))
    assert diagnosed.returncode == 0, diagnosed.stderr
    files = bundle(out)
    logs = {f: text for f, text in files.items() if f.startswith("logs/api-")}
    assert logs, sorted(files)
    for text in logs.values():  # read, or let through to the node (kwok's serve no logs)
        assert not text.startswith("(") or "/containerLogs/" in text, text
    never_refused(report, summary.read_text(), diagnosed.stderr,
                  *files.values())
    assert plugin(pipeline, "delete", name).returncode == 0


def test_a_developer_with_view_reads_classes_and_renders_templates(
        cluster: localcluster.Cluster, kubectl: Kubectl, pipeline: Pipeline) -> None:
    """The built-in `view` (which devenv-operator-view is aggregated into) lets people see
    the classes and templates environments are made from."""
    developer, binding = unique("dev"), unique("ci-role-view")
    apply(kubectl, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": binding},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": "view"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                  "name": developer}]})
    try:
        wait_for(lambda: kubectl("auth", "can-i", "get", "devenvironmenttemplates.shipit.dev",
                                 f"--as={developer}", check=False).stdout.strip() == "yes",
                 timeout=30, what="devenv-operator-view to aggregate into view")
        listed = kubectl("get", "devenvclass", pipeline.cls, f"--as={developer}", check=False)
        assert listed.returncode == 0, listed.stderr
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(KUBECONFIG=str(cluster.kubeconfig),
                   PATH=os.pathsep.join([str(Path(sys.prefix) / "bin"), env.get("PATH", "")]))
        rendered = subprocess.run(
            [kubectl_path(), "devenv", "render", "--template", pipeline.template,
             "--set", "apiImage=shop/api:1", "--as", developer],
            capture_output=True, text=True, env=env, timeout=60, check=False)
        assert rendered.returncode == 0, rendered.stderr
        assert yaml.safe_load(rendered.stdout)["spec"]["services"][1]["image"] == "shop/api:1"
    finally:
        kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


# -- the recipes of docs/ci.md, each run as its CI system would, as the CI identity -------


def test_the_github_action_runs_as_the_ci_identity(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    run = ci_recipes.run_github_action(
        tmp_path, str(pipeline.kubeconfig),
        {"template": pipeline.template, "parameters": "apiImage=shop/api:pr-12\n",
         "ttl": "1h", "timeout": "2m", "command": CHECK_COMMAND},
        github("acme/shop", 12))
    name = run.outputs.get("name", "")
    names.append(name)
    assert run.ok, run.log
    assert "COMMAND-RAN" in run.log
    assert "Ready" in run.summary
    never_refused(run.log, run.summary)
    wait_for(lambda: _gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_the_gitlab_job_runs_as_the_ci_identity(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    run = ci_recipes.run_gitlab_job(
        tmp_path, str(pipeline.kubeconfig), ".devenv",
        {"GITLAB_CI": "true", "CI_PROJECT_PATH": "acme/shop", "CI_MERGE_REQUEST_IID": "13",
         "CI_PIPELINE_ID": "4242", "CI_COMMIT_SHA": "b" * 40,
         "DEVENV_TEMPLATE": pipeline.template, "DEVENV_PARAMETERS": "apiImage=shop/api:mr-13",
         "DEVENV_TIMEOUT": "2m", "DEVENV_COMMAND": CHECK_COMMAND.replace("$", "$$")})
    name = run.outputs.get("DEVENV_NAME", "")
    names.append(name)
    assert run.ok, run.log
    assert "COMMAND-RAN" in run.log
    never_refused(run.log)
    wait_for(lambda: _gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_the_tekton_tasks_run_as_the_ci_identity(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    run = ci_recipes.run_tekton_task(
        tmp_path, str(pipeline.kubeconfig), "devenv-create",
        {"template": pipeline.template, "parameters": "apiImage=shop/api:pr-14",
         "name-prefix": "shop", "name-id": "14", "timeout": "2m"}, diagnostics=True)
    name = run.outputs.get("name", "")
    names.append(name)
    assert run.ok, run.log
    assert (devenv(kubectl, name) or {})["status"]["phase"] == "Ready"
    deleted = ci_recipes.run_tekton_task(tmp_path, str(pipeline.kubeconfig), "devenv-delete",
                                         {"name": name})
    assert deleted.ok, deleted.log
    never_refused(run.log, deleted.log)
    wait_for(lambda: _gone_or_deleting(kubectl, name), 30, what=f"{name} deleted")


def test_the_shell_recipe_runs_as_the_ci_identity_and_keeps_evidence_on_failure(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    ok = ci_recipes.run_shell(
        tmp_path, str(pipeline.kubeconfig),
        ["--template", pipeline.template, "--set", "apiImage=shop/api:1", "--name-prefix",
         "sh", "--name-id", "1", "--", "bash", "-c", CHECK_COMMAND], {"DEVENV_TIMEOUT": "2m"})
    assert ok.ok, ok.log
    assert "COMMAND-RAN" in ok.log
    failing = ci_recipes.run_shell(
        tmp_path, str(pipeline.kubeconfig),
        ["--template", pipeline.template, "--set", "apiImage=shop/api:1", "--name-prefix",
         "sh", "--name-id", "2", "--", "bash", "-c", "exit 7"], {"DEVENV_TIMEOUT": "2m"})
    assert failing.steps[0].returncode == 7, failing.log
    (kept,) = list((tmp_path / "devenv-diagnostics").iterdir())
    names.append(kept.name)
    files = bundle(kept)
    assert "events.txt" in files
    never_refused(ok.log, failing.log, *files.values())
    wait_for(lambda: _gone_or_deleting(kubectl, kept.name), 30, what=f"{kept.name} deleted")


def _gone_or_deleting(kubectl: Kubectl, name: str) -> bool:
    env = devenv(kubectl, name)
    return env is None or bool(env["metadata"].get("deletionTimestamp"))


def test_the_ci_identity_reruns_a_job_and_sees_a_failed_one_in_full(
        running_operator: Operator, kubectl: Kubectl, pipeline: Pipeline, names: list[str],
        tmp_path: Path) -> None:
    """rerun-job (a patch of a rerun.shipit.dev annotation, which the ownership policy lets
    the owner make) and a failed job's report, with nothing but the CI role."""
    name = unique("ci-jobs")
    names.append(name)
    jobs = [{"name": "migrate", "image": "shop/api:1", "dependsOn": ["db"]},
            {"name": "seed", "image": "fail.invalid/shop/seed:1", "backoffLimit": 0,
             "dependsOn": ["migrate"]}]
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(manifest(name, className=pipeline.cls, jobs=jobs, services=[
        {"name": "db", "image": "postgres:16", "ports": [{"port": 5432}]}])))
    created = plugin(pipeline, "create", "-f", str(path), "--wait", "--timeout", "2m")
    assert created.returncode == 1, created.stdout + created.stderr  # seed fails
    assert "Failed: JobFailed: Job seed failed" in created.stderr
    assert "Jobs not complete:" in created.stderr
    env = devenv(kubectl, name) or {}
    migrate = next(j for j in env["status"]["jobs"] if j["name"] == "migrate")
    assert migrate["state"] == "Complete"
    rerun = plugin(pipeline, "rerun-job", name, "migrate")
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() not in ("", migrate["jobName"])
    out = tmp_path / "diagnosis"
    diagnosed = plugin(pipeline, "diagnose", name, "-o", str(out))
    assert diagnosed.returncode == 0, diagnosed.stderr
    files = bundle(out)
    assert "seed" in files["jobs.txt"]
    never_refused(created.stderr, rerun.stderr, diagnosed.stderr, files["jobs.txt"])
