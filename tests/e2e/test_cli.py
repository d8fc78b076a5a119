"""`kubectl devenv`, run as users and CI run it: the real kubectl finds the plugin
(``kubectl-devenv``, installed with the package) on PATH and the plugin talks to the local
control plane. Every command and every exit code of `wait`: 0 Ready, 1 Failed (at once),
2 timeout, 3 deleted; 4 for a broken kubeconfig.

kubectl refuses flags before a plugin's name, so the cluster is chosen with KUBECONFIG, as in
a CI job.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

import localcluster
from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    devenv,
    kubectl_path,
    manifest,
    unique,
    wait_for,
)

pytestmark = pytest.mark.e2e

UNPULLABLE = "unpullable.invalid/shop/api:broken"
CI_VARIABLES = ("GITHUB_ACTIONS", "GITLAB_CI", "KUBERNETES_SERVICE_HOST")


def plugin_env(cluster: localcluster.Cluster, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    env.update(extra)
    return env


@pytest.fixture
def devenv_cli(cluster: localcluster.Cluster) -> Any:
    """Run ``kubectl devenv ARGS``; returns the finished process (never checks)."""
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 90,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl_path(), "devenv", *args], capture_output=True, text=True,
                              env=env or plugin_env(cluster), timeout=timeout, input=input)
    return run


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def write(path: Path, obj: Any) -> str:
    path.write_text(yaml.safe_dump(obj))
    return str(path)


def test_the_plugin_is_found_by_kubectl(devenv_cli: Any, running_operator: Operator) -> None:
    proc = devenv_cli("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("create", "wait", "diagnose", "endpoints", "port-forward", "logs", "exec",
                    "extend", "render", "list", "completion"):
        assert command in proc.stdout


def test_create_waits_until_ready_then_endpoints_reuse_and_extend(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Callable[..., str], tmp_path: Path) -> None:
    cls = make_class(lifetime={"maxTTL": "4h"}, networkPolicy="none")
    name = unique("cli-ready")
    names.append(name)
    path = write(tmp_path / "env.yaml", manifest(name, className=cls, services=[
        {"name": "api", "image": "nginx:1.27", "ports": [{"name": "http", "port": 8080}]},
        {"name": "worker", "image": "nginx:1.27"}]))
    summary = tmp_path / "summary.md"
    started = time.monotonic()
    proc = devenv_cli("create", "-f", path, "--ttl", "1h", "--label", "team=shop", "--wait",
                      "--timeout", "60s", "--summary", str(summary), "-o", "json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert time.monotonic() - started < 60
    out = json.loads(proc.stdout)
    ns = f"dev-{name}"
    assert out["name"] == name
    assert out["namespace"] == ns
    assert out["created"] is True
    assert out["url"] is None  # no port exposed
    assert out["endpoints"] == [{"service": "api", "port": 8080,
                                 "internal": f"api.{ns}.svc.cluster.local:8080"}]
    assert f"devenvironment/{name} created" in proc.stderr
    assert f"devenv {name} is Ready after" in proc.stderr
    assert summary.read_text().startswith(f"## DevEnvironment `{name}` is Ready")
    env = devenv(kubectl, name) or {}
    assert env["metadata"]["labels"]["team"] == "shop"
    assert env["spec"]["ttl"] == "1h"

    as_json = devenv_cli("endpoints", name, "-o", "json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == out["endpoints"]
    table = devenv_cli("endpoints", name).stdout.splitlines()
    assert table[0].split() == ["SERVICE", "PORT", "ADDRESS", "URL"]
    assert table[1].split() == ["api", "8080", f"api.{ns}.svc.cluster.local:8080", "-"]

    # A re-run of the same step finds the environment and says so (no error, no new object).
    again = devenv_cli("create", "-f", path, "--ttl", "1h", "--label", "team=shop")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == name
    assert "already exists" in again.stderr
    assert "reused, unchanged" in again.stderr

    # extend: from now, confirmed by the operator's status.expiresAt; never shorter.
    before = datetime_of(env["status"]["expiresAt"])
    longer = devenv_cli("extend", name, "3h")
    assert longer.returncode == 0, longer.stderr
    after = datetime_of((devenv(kubectl, name) or {})["status"]["expiresAt"])
    assert after - before > 6000  # ~1h -> ~3h from now
    assert longer.stdout.strip() == (devenv(kubectl, name) or {})["status"]["expiresAt"]
    shorter = devenv_cli("extend", name, "10m")
    assert shorter.returncode == 0
    assert "not shortened" in shorter.stderr
    assert datetime_of((devenv(kubectl, name) or {})["status"]["expiresAt"]) == after
    allowed = devenv_cli("extend", name, "10m", "--allow-shorten")
    assert allowed.returncode == 0, allowed.stderr
    assert datetime_of((devenv(kubectl, name) or {})["status"]["expiresAt"]) < after - 6000
    # The class allows 4h from creation: 6h from now is clamped, and extend says so.
    clamped = devenv_cli("extend", name, "6h")
    assert clamped.returncode == 0, clamped.stderr
    assert "clamped by the maximum lifetime" in clamped.stderr
    created = datetime_of(env["metadata"]["creationTimestamp"])
    assert datetime_of(clamped.stdout.strip()) == created + 4 * 3600


def datetime_of(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_wait_exits_1_at_once_when_the_environment_fails_and_names_the_blocker(
        devenv_cli: Any, running_operator: Operator, names: list[str],
        tmp_path: Path) -> None:
    name = unique("cli-failed")
    names.append(name)
    summary = tmp_path / "summary.md"
    proc = devenv_cli("create", name, "-f", write(tmp_path / "e.yaml", manifest(name)),
                      "--class", "no-such-class")
    assert proc.returncode == 0, proc.stderr
    started = time.monotonic()
    proc = devenv_cli("wait", name, "--timeout", "60s", "--summary", str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 20  # at once, not at the timeout
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"devenv {name} Failed: ClassNotFound: ")
    assert "no-such-class" in lines[0]
    conditions = lines[lines.index("Conditions:") + 1:]
    assert conditions[0].split()[:3] == ["TYPE", "STATUS", "REASON"]
    assert any(row.split()[:3] == ["Stalled", "True", "ClassNotFound"] for row in conditions)
    assert "Recent Events" in proc.stdout
    markdown = summary.read_text()
    parsed = MarkdownIt("commonmark").enable("table").parse(markdown)
    assert parsed[0].type == "heading_open"
    assert parsed[1].content == f"DevEnvironment `{name}` failed"
    assert parsed[4].content.startswith("**ClassNotFound**: ")
    assert any(t.type == "table_open" for t in parsed)


def test_an_image_that_cannot_be_pulled_and_a_crash_loop_fail_the_wait_and_are_named(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Callable[..., str], tmp_path: Path) -> None:
    cls = make_class(failFast={"imagePullFailAfter": "5s", "crashLoopRestarts": 2})
    pulls, crashes = unique("cli-pull"), unique("cli-crash")
    names.extend([pulls, crashes])
    started = time.monotonic()
    apply(kubectl, [manifest(pulls, className=cls, services=[
        {"name": "db", "image": "nginx:1.27"}, {"name": "api", "image": UNPULLABLE}]),
        manifest(crashes, className=cls, services=[
            {"name": "migrate", "image": "crashloop.invalid/shop/migrate:1"}])])
    summary = tmp_path / "summary.md"
    proc = devenv_cli("wait", pulls, "--timeout", "90s", "--summary", str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started < 5 + 30
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"devenv {pulls} Failed: ImagePullFailed: ")
    assert "api" in lines[0]
    assert UNPULLABLE in lines[0]
    blocked = lines[lines.index("Blocked services:") + 2]
    assert blocked.split()[:3] == ["api", "0/1", "ImagePullFailed"]
    markdown = summary.read_text()
    assert markdown.startswith(f"## DevEnvironment `{pulls}` failed\n")
    assert "Blocked: service `api` (ImagePullFailed" in markdown

    proc = devenv_cli("wait", crashes, "--timeout", "90s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"devenv {crashes} Failed: CrashLooping: ")
    row = lines[lines.index("Blocked services:") + 2].split()
    assert row[0] == "migrate"
    assert row[2] == "CrashLooping"
    assert int(row[3]) >= 2
    assert row[4:6] == ["Error", "(exit"]
    assert re.search(r"migrate-\S+\s+migrate\s+false\s+.*Error \(exit 1\)", proc.stdout)
    assert f"Logs of dev-{crashes}/migrate-" in proc.stdout
    assert "(previous instance)" in proc.stdout


def test_wait_exits_2_on_timeout_and_diagnose_keeps_the_evidence(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator, names: list[str],
        tmp_path: Path) -> None:
    name = unique("cli-timeout")
    names.append(name)
    apply(kubectl, manifest(name, services=[
        {"name": "db", "image": "nginx:1.27"},
        {"name": "api", "image": UNPULLABLE, "ports": [{"port": 8080}]}],
        config={"secrets": [{"name": "db", "generate": {"keys": ["password"]}}]}))

    def pulling() -> dict[str, Any] | None:  # the pod is there and cannot pull
        env = devenv(kubectl, name) or {}
        services = {s["name"]: s for s in (env.get("status") or {}).get("services") or []}
        return env if services.get("db", {}).get("ready") and "api" in services else None
    wait_for(pulling, 60, what="db ready, api pulling")

    proc = devenv_cli("wait", name, "--timeout", "3s")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"devenv {name} not Ready after ")
    assert "(timed out)" in lines[0]
    blocked = lines[lines.index("Blocked services:") + 2:]
    assert blocked[0].split()[0] == "api"
    assert not any(
        row.split()[:1] == ["db"] for row in blocked if row.startswith("  "))
    assert re.search(r"api-\S+\s+api\s+false\s+waiting: (ErrImagePull|ImagePullBackOff)",
                     proc.stdout)
    assert f"Logs of dev-{name}/api-" in proc.stdout  # and why there are none

    out = tmp_path / "bundle"
    diag = devenv_cli("diagnose", name, "-o", str(out))
    assert diag.returncode == 0, diag.stderr
    obj = yaml.safe_load((out / "devenvironment.yaml").read_text())
    assert obj["metadata"]["name"] == name
    assert obj["status"]["phase"] == "Provisioning"
    assert "ServicesReady" in (out / "conditions.txt").read_text()
    events = (out / "events.txt").read_text()
    assert "devenvironment/" + name in events
    pods = yaml.safe_load((out / "pods.yaml").read_text())
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in pods} == {"db", "api"}
    logs = sorted(p.name for p in (out / "logs").iterdir())
    assert any(f.startswith("api-") and f.endswith(".api.log") for f in logs), logs
    readme = (out / "README.md").read_text()
    assert f"Diagnosis of DevEnvironment `{name}`" in readme
    assert "`events.txt`" in readme
    # No Secret was read: the generated password appears nowhere in the bundle.
    secret = json.loads(kubectl("get", "secret", "db", "-n", f"dev-{name}", "-o",
                                "json").stdout)
    import base64

    password = base64.b64decode(secret["data"]["password"]).decode()
    for path in out.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(), path


def test_wait_exits_3_when_the_environment_is_deleted_or_missing(
        devenv_cli: Any, cluster: localcluster.Cluster, kubectl: Kubectl,
        running_operator: Operator, names: list[str]) -> None:
    missing = devenv_cli("wait", unique("cli-missing"), "--timeout", "5s")
    assert missing.returncode == 3
    assert "not found" in missing.stderr
    no_traceback(missing)

    name = unique("cli-deleted")
    names.append(name)
    apply(kubectl, manifest(name, services=[{"name": "api", "image": UNPULLABLE}]))
    waiting = subprocess.Popen([kubectl_path(), "devenv", "wait", name, "--timeout", "60s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=plugin_env(cluster))
    try:
        time.sleep(2)  # let it start watching
        started = time.monotonic()
        deleted = devenv_cli("delete", name, "--wait", "--timeout", "60s")
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 3, out + err
    assert time.monotonic() - started < 45
    assert f"devenv {name} " in out
    assert "delet" in out
    assert deleted.returncode == 0, deleted.stderr
    assert "is gone after" in deleted.stderr
    assert devenv(kubectl, name) is None
    again = devenv_cli("delete", name)  # a clean-up step can always run
    assert again.returncode == 0
    assert "nothing to delete" in again.stderr


def test_create_names_a_ci_environment_and_render_creates_nothing(
        devenv_cli: Any, cluster: localcluster.Cluster, kubectl: Kubectl,
        running_operator: Operator, names: list[str], tmp_path: Path) -> None:
    template = unique("cli-tpl")
    doc = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
           "metadata": {"name": template},
           "spec": {"ttl": "2h", "parameters": [
               {"name": "apiImage", "type": "image", "required": True},
               {"name": "replicas", "type": "integer", "default": 1, "maximum": 3}],
               "services": [{"name": "api", "image": "$(params.apiImage)",
                             "replicas": "$(params.replicas)", "ports": [{"port": 8080}]}]}}
    apply(kubectl, doc)
    try:
        count = len(json.loads(kubectl("get", "devenv", "-o", "json").stdout)["items"])
        rendered = devenv_cli("render", "--template", template, "--set", "apiImage=nginx:1.27",
                              "--set", "replicas=2")
        assert rendered.returncode == 0, rendered.stderr
        obj = yaml.safe_load(rendered.stdout)
        assert obj["kind"] == "DevEnvironment"
        assert obj["spec"]["ttl"] == "2h"
        assert obj["spec"]["services"][0]["image"] == "nginx:1.27"
        assert obj["spec"]["services"][0]["replicas"] == 2
        offline = devenv_cli("render", "-f", write(tmp_path / "t.yaml", doc), "--set",
                             "apiImage=nginx:1.27", "-o", "json",
                             env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
        assert offline.returncode == 0, offline.stderr  # no kubeconfig needed
        assert json.loads(offline.stdout)["spec"]["services"][0]["replicas"] == 1
        bad = devenv_cli("render", "--template", template, "--set", "replicas=9", "--set",
                         "apiImage=nginx:1.27")
        assert bad.returncode == 1
        assert "ParameterInvalid" in bad.stderr
        assert "parameter replicas" in bad.stderr
        assert len(json.loads(kubectl("get", "devenv", "-o", "json").stdout)["items"]) == count

        github = plugin_env(cluster, GITHUB_ACTIONS="true", GITHUB_REPOSITORY="acme/shop",
                            GITHUB_REF="refs/pull/1234/merge", GITHUB_RUN_ID="555",
                            GITHUB_SHA="0123abc")
        created = devenv_cli("create", "--template", template, "--set", "apiImage=nginx:1.27",
                             "--wait", "--timeout", "60s", env=github)
        name = created.stdout.strip()
        names.append(name)
        assert created.returncode == 0, created.stderr
        assert re.fullmatch(r"shop-pr-1234-[0-9a-f]{6}", name)
        env = devenv(kubectl, name) or {}
        assert env["spec"]["templateRef"] == {"name": template}
        labels = env["metadata"]["labels"]
        assert labels["shipit.dev/ci-provider"] == "github"
        assert labels["shipit.dev/ci-repository"] == "acme.shop"
        assert labels["shipit.dev/ci-change"] == "1234"
        assert env["metadata"]["annotations"]["shipit.dev/ci-commit"] == "0123abc"
        # The same PR number in another repository is another environment.
        other = {**github, "GITHUB_REPOSITORY": "globex/shop"}
        proc = devenv_cli("create", "--template", template, "--set", "apiImage=nginx:1.27",
                          env=other)
        assert proc.returncode == 0, proc.stderr
        names.append(proc.stdout.strip())
        assert proc.stdout.strip() != name
        assert "created" in proc.stderr
    finally:
        kubectl("delete", "devenvironmenttemplate", template, "--ignore-not-found")


def test_create_is_owned_by_its_user_and_list_mine_shows_what_they_or_their_group_own(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator, names: list[str],
        tmp_path: Path) -> None:
    group = unique("cli-devs")
    alices, teams, bobs = unique("cli-alice"), unique("cli-team"), unique("cli-bob")
    names.extend([alices, teams, bobs])
    rbac = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": group}, "rules": [{
                 "apiGroups": ["shipit.dev"], "resources": ["devenvironments"],
                 "verbs": ["get", "list", "watch", "create", "patch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": group},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": group},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                           "name": group}]}]
    apply(kubectl, rbac)
    try:
        path = write(tmp_path / "alice.yaml", manifest(alices))
        as_alice = ("--as", "alice", "--as-group", group)
        made = devenv_cli("create", "-f", path, *as_alice)
        assert made.returncode == 0, made.stderr
        assert (devenv(kubectl, alices) or {})["spec"]["owner"] == "alice"  # who she is
        # Bob's job picking the same name is refused; Alice's re-run reuses it.
        taken = devenv_cli("create", "-f", path, "--as", "bob", "--as-group", group)
        assert taken.returncode == 1
        assert f"devenv {alices} already exists and belongs to alice (you are bob)" \
            in taken.stderr
        rerun = devenv_cli("create", "-f", path, *as_alice)
        assert rerun.returncode == 0, rerun.stderr
        assert "(owner alice): reused, unchanged" in rerun.stderr
        apply(kubectl, [manifest(teams, owner=f"group:{group}"), manifest(bobs, owner="bob")])

        proc = devenv_cli("list", "--mine", *as_alice, "-o", "json")
        assert proc.returncode == 0, proc.stderr
        mine = {e["name"] for e in json.loads(proc.stdout)}
        assert alices in mine
        assert teams in mine
        assert bobs not in mine
        theirs = devenv_cli("list", "--mine", "--as", "bob", "--as-group", group, "-o", "json")
        assert {e["name"] for e in json.loads(theirs.stdout)} >= {bobs, teams}
        assert alices not in {e["name"] for e in json.loads(theirs.stdout)}
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", group, "--ignore-not-found")
    everyone = devenv_cli("list")
    assert everyone.returncode == 0
    assert {alices, teams, bobs} <= {row.split()[0] for row in everyone.stdout.splitlines()}


def test_errors_are_sentences_with_their_exit_codes(devenv_cli: Any, cluster: localcluster.Cluster,
                                                    tmp_path: Path) -> None:
    broken = devenv_cli("list", env=plugin_env(cluster, KUBECONFIG=str(tmp_path / "none")))
    assert broken.returncode == 4
    assert "no kubeconfig found" in broken.stderr
    no_traceback(broken)
    forbidden = devenv_cli("list", "--as", "mallory")
    assert forbidden.returncode == 4
    assert "forbidden" in forbidden.stderr
    no_traceback(forbidden)
    usage = devenv_cli("create", "--template", "x", "-f", "y.yaml")
    assert usage.returncode == 4
    assert "exactly one of" in usage.stderr
    no_ci = devenv_cli("create", "--template", "x")
    assert no_ci.returncode == 4
    assert "--name-prefix" in no_ci.stderr
    gone = devenv_cli("endpoints", unique("cli-none"))
    assert gone.returncode == 3
    assert "not found" in gone.stderr
