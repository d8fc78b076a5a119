"""The plugin's entry point and progress display, without a cluster: usage errors and
missing kubeconfigs as exit code 4 with a sentence, offline render, and progress lines
that are rewritten on a terminal and printed only on change in a CI log."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv_cli import app, exits, inputs, waiting

TEMPLATE = {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentTemplate",
            "metadata": {"name": "shop"},
            "spec": {"ttl": "2h", "parameters": [
                {"name": "apiImage", "type": "image", "required": True},
                {"name": "replicas", "type": "integer", "default": 1, "maximum": 3}],
                "services": [{"name": "api", "image": "$(params.apiImage)",
                              "replicas": "$(params.replicas)"}]}}


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = app.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["wait"], ["nonsense"], ["endpoints", "x", "-o", "xml"], []])
def test_usage_errors_exit_4_not_argparses_2_which_means_timeout(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        app.main(argv)
    assert exit_info.value.code == 4
    assert "error:" in capsys.readouterr().err


def test_no_kubeconfig_is_a_sentence_and_exit_4(no_cluster: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "list")
    assert code == 4
    assert err == ("error: no kubeconfig found (looked at ~/.kube/config); set KUBECONFIG "
                   "or pass --kubeconfig\n")
    code, _, err = run(capsys, "wait", "x", "--kubeconfig", str(no_cluster / "nope"))
    assert code == 4
    assert "does not exist" in err


def test_a_broken_kubeconfig_is_a_sentence(no_cluster: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    broken = no_cluster / "config"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    code, _, err = run(capsys, "list", "--kubeconfig", str(broken))
    assert code == 4
    assert err.startswith("error: cannot use the kubeconfig")
    assert "Traceback" not in err


def test_render_works_offline_from_a_file(no_cluster: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = no_cluster / "t.yaml"
    path.write_text(yaml.safe_dump(TEMPLATE))
    code, out, err = run(capsys, "render", "pr-1", "-f", str(path), "--set",
                         "apiImage=registry.example.com/api:1", "--set", "replicas=2")
    assert code == 0, err
    obj = yaml.safe_load(out)
    assert obj["metadata"] == {"name": "pr-1"}
    assert obj["spec"]["ttl"] == "2h"
    assert obj["spec"]["services"] == [
        {"name": "api", "image": "registry.example.com/api:1", "replicas": 2}]


def test_render_names_the_parameter_that_breaks_its_rule(
        no_cluster: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = no_cluster / "t.yaml"
    path.write_text(yaml.safe_dump(TEMPLATE))
    code, out, err = run(capsys, "render", "-f", str(path), "--set", "apiImage=x:1",
                         "--set", "replicas=9")
    assert (code, out) == (1, "")
    assert "ParameterInvalid: parameter replicas: 9 is above the maximum" in err


def test_create_without_a_name_outside_ci_asks_for_a_prefix(
        no_cluster: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "create", "--template", "shop", "--kubeconfig",
                       str(no_cluster / "nope"))
    assert code == 4
    assert "does not exist" in err  # the cluster first: nothing else runs without one
    config = no_cluster / "config"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    code, _, err = run(capsys, "create", "--template", "shop", "--kubeconfig", str(config))
    assert code == 4
    assert "--name-prefix" in err
    code, _, err = run(capsys, "create", "x", "--kubeconfig", str(config))
    assert code == 4
    assert "exactly one of -f MANIFEST and --template" in err
    code, _, err = run(capsys, "create", "x", "--template", "t", "--set", "novalue",
                       "--kubeconfig", str(config))
    assert code == 4
    assert "--set 'novalue': expected KEY=VALUE" in err
    code, _, err = run(capsys, "wait", "x", "--timeout", "10 minutes", "--kubeconfig",
                       str(config))
    assert code == 4
    assert "--timeout: invalid duration" in err


# --- progress -------------------------------------------------------------------------------

def env(phase: str, services: list[dict[str, Any]], message: str = "") -> dict[str, Any]:
    ready = sum(1 for s in services if s["ready"])
    return {"metadata": {"name": "x"}, "status": {
        "phase": phase, "message": message, "readyServices": f"{ready}/{len(services)}",
        "services": services}}


def svc(name: str, ready: bool, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "readyReplicas": int(ready), "replicas": 1,
            "reason": "Available" if ready else "ServiceNotReady", "message": message, **extra}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_prints_a_line_only_when_something_changed() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = waiting.Progress(stream, "x", live=False, clock=clock)
    waiting_db = env("Provisioning", [svc("db", False, "0/1 ready"), svc("api", False)],
                     "waiting for db")
    progress.update(waiting_db)
    clock.now += 3
    progress.update(waiting_db)  # nothing new: nothing printed
    clock.now += 4
    progress.update(env("Provisioning", [svc("db", True), svc("api", False, "crashing",
                                                              restarts=2,
                                                              lastTerminationReason="Error",
                                                              lastExitCode=1)],
                        "waiting for api"))
    assert stream.getvalue().splitlines() == [
        "[   0s] devenv x: Provisioning (0/2 services ready): waiting for db",
        "[   0s]   service db: 0/1 ServiceNotReady: 0/1 ready",
        "[   0s]   service api: 0/1 ServiceNotReady",
        "[   7s] devenv x: Provisioning (1/2 services ready): waiting for api",
        "[   7s]   service db: 1/1 ready",
        "[   7s]   service api: 0/1 ServiceNotReady, 2 restarts, last termination Error "
        "(exit 1): crashing"]
    assert "\x1b" not in stream.getvalue()


def test_live_progress_rewrites_its_block_in_place() -> None:
    stream = io.StringIO()
    progress = waiting.Progress(stream, "x", live=True, clock=Clock())
    progress.update(env("Provisioning", [svc("db", False), svc("api", False)]))
    first = stream.getvalue()
    assert "\x1b[" not in first
    assert first.count("\n") == 3
    progress.update(env("Ready", [svc("db", True), svc("api", True)]))
    second = stream.getvalue()[len(first):]
    assert second.startswith("\x1b[3F\x1b[J")  # up three lines, clear, redraw
    assert second.count("\n") == 3
    assert "Ready (2/2 services ready)" in second


# --- kubeconfig, context and impersonation, as kubectl does them -----------------------------

def kubeconfig(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "one",
        "clusters": [{"name": "one", "cluster": {"server": "https://one.example:6443"}},
                     {"name": "two", "cluster": {"server": "https://two.example:6443"}}],
        "contexts": [{"name": "one", "context": {"cluster": "one", "user": "u"}},
                     {"name": "two", "context": {"cluster": "two", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}]}))
    return path


def test_kubeconfig_from_the_environment_and_context_from_the_flag(
        no_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv_cli import api

    path = kubeconfig(no_cluster / "kc")
    monkeypatch.setenv("KUBECONFIG", f"{no_cluster / 'missing'}:{path}")
    assert api.Api(api.api_client(api.Connection())).host == "https://one.example:6443"
    chosen = api.Api(api.api_client(api.Connection(context="two")))
    assert chosen.host == "https://two.example:6443"
    with pytest.raises(api.ConfigError, match="cannot use the kubeconfig"):
        api.api_client(api.Connection(context="three"))


def test_impersonation_headers_ride_on_every_request(no_cluster: Path) -> None:
    from devenv_cli import api
    from devenv_operator import kube

    path = str(kubeconfig(no_cluster / "kc"))
    plain = kube.transport(api.api_client(api.Connection(kubeconfig=path)))
    headers: dict[str, str] = {}
    plain.authorize(headers, "/api", "GET")
    assert headers == {"authorization": "Bearer t0ken"}
    acting = kube.transport(api.api_client(api.Connection(
        kubeconfig=path, as_user="alice", as_group="devs")))
    headers = {}
    acting.authorize(headers, "/api", "GET")
    assert headers == {"authorization": "Bearer t0ken", "Impersonate-User": "alice",
                       "Impersonate-Group": "devs"}


def test_inside_a_pod_without_a_kubeconfig_the_service_account_is_used(
        no_cluster: Path) -> None:
    from devenv_cli import api

    # No token file here, so the in-cluster loader refuses: the point is that it was asked.
    with pytest.raises(api.ConfigError, match="cannot use the pod's ServiceAccount"):
        api.api_client(api.Connection(), {"KUBERNETES_SERVICE_HOST": "10.0.0.1",
                                          "KUBERNETES_SERVICE_PORT": "443"})


def test_stable_for_takes_a_duration_or_a_bare_zero() -> None:
    assert inputs.stable_for("5s") == 5.0
    assert inputs.stable_for("0") == 0.0
    assert inputs.stable_for("0s") == 0.0
    with pytest.raises(exits.UsageError, match="--stable-for"):
        inputs.stable_for("soon")


@pytest.mark.parametrize(("owner", "mine"), [
    ("alice", True), ("bob", False), ("group:devs", True), ("group:ops", False),
    ("devs", False), ("system:serviceaccount:ci:runner", False), ("", False), (None, False)])
def test_an_environment_is_mine_when_its_owner_names_me_or_one_of_my_groups(
        owner: str | None, mine: bool) -> None:
    from devenv_cli.api import Identity

    assert Identity("alice", ("devs", "system:authenticated")).owns(owner) is mine
    robot = Identity("system:serviceaccount:ci:runner", ())
    assert robot.owns("system:serviceaccount:ci:runner")


def test_the_version_is_pyprojects_else_the_installed_distributions_else_unknown(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib
    from importlib import metadata

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    with pytest.raises(SystemExit) as exit_info:
        app.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"kubectl devenv {project['project']['version']}\n"
    monkeypatch.setattr(app, "_source_version", lambda: None)  # an installed wheel
    assert app.version() == metadata.version("devenv-operator")
    monkeypatch.setattr(app, "DISTRIBUTION", "devenv-operator-never-installed")
    assert app.version() == "unknown (not installed)"
