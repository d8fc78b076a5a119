"""Reaching an environment from the plugin, without a cluster: what `endpoints` prints
(table, wide, JSON), how a service, a port and a job are found in the status (and the
sentence that lists the valid ones when they are not), the kubectl command lines that
`port-forward`, `logs` and `exec` hand over to, and their arguments."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from devenv_cli import access, app, commands, reach
from devenv_cli.api import ConfigError, Connection
from devenv_cli.exits import Unavailable, UsageError
from devenv_operator import kinds

NS = "dev-pr-1"
EXPOSED = {"service": "web", "port": 8080, "internal": f"web.{NS}.svc.cluster.local:8080",
           "url": "http://web-pr-1.devenv.localtest", "ready": True, "reason": "RouteAccepted"}
REFUSED = {"service": "admin", "port": 9000, "internal": f"admin.{NS}.svc.cluster.local:9000",
           "url": "http://admin-pr-1.devenv.localtest", "ready": False,
           "reason": "RouteNotAccepted"}
INTERNAL = {"service": "db", "port": 5432, "internal": f"db.{NS}.svc.cluster.local:5432"}


def env(endpoints: list[dict[str, Any]] | None = None, phase: str = "Ready",
        **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "pr-1"}, "spec": {"services": [{"name": "worker"}]},
            "status": {"phase": phase, "namespace": NS, "endpoints": endpoints,
                       "services": [{"name": s, "ready": True}
                                    for s in ("db", "web", "admin", "worker")],
                       "jobs": [{"name": "migrate", "state": "Complete",
                                 "jobName": "migrate-4f2a9c0d1e"},
                                {"name": "seed", "state": "Pending"}],
                       **status}}


# --- endpoints ---------------------------------------------------------------------------

def test_the_table_shows_each_address_and_url_and_the_environments_url() -> None:
    obj = env([EXPOSED, REFUSED, INTERNAL], url=EXPOSED["url"], conditions=[
        {"type": "EndpointsReady", "status": "False", "reason": "RouteNotAccepted",
         "message": "route admin: no listener admin-pr-1.devenv.localtest"}])
    assert reach.endpoints_table(obj).splitlines() == [
        "SERVICE   PORT   ADDRESS                                 URL",
        "web       8080   web.dev-pr-1.svc.cluster.local:8080     http://web-pr-1.devenv.localtest",
        "admin     9000   admin.dev-pr-1.svc.cluster.local:9000   "
        "http://admin-pr-1.devenv.localtest (not ready)",
        "db        5432   db.dev-pr-1.svc.cluster.local:5432      -",
        "",
        "URL: http://web-pr-1.devenv.localtest",
        "EndpointsReady=False (RouteNotAccepted): route admin: no listener "
        "admin-pr-1.devenv.localtest"]


def test_the_wide_table_adds_ready_and_reason() -> None:
    rows = [line.split() for line in
            reach.endpoints_table(env([EXPOSED, REFUSED, INTERNAL]), wide=True).splitlines()]
    assert rows[0] == ["SERVICE", "PORT", "ADDRESS", "URL", "READY", "REASON"]
    assert rows[1][3:] == ["http://web-pr-1.devenv.localtest", "true", "RouteAccepted"]
    assert rows[2][3:] == ["http://admin-pr-1.devenv.localtest", "false", "RouteNotAccepted"]
    assert rows[3][3:] == ["-", "-", "-"]
    assert len(rows) == 4  # no URL, no condition: nothing after the table


def test_json_is_the_status_list_with_its_keys_in_one_order() -> None:
    shuffled = {k: EXPOSED[k] for k in reversed(list(EXPOSED))}
    out = reach.endpoints_json(env([shuffled, INTERNAL, {"port": 1}]))
    assert out == [EXPOSED, INTERNAL]
    assert list(out[0]) == ["service", "port", "internal", "url", "ready", "reason"]
    assert list(out[1]) == ["service", "port", "internal"]  # as before exposure existed
    assert reach.endpoints_json(env(None)) == []


def test_an_environment_without_endpoints_says_why() -> None:
    assert reach.no_endpoints("pr-1", env([])) == (
        "devenv pr-1 has no endpoints: none of its services declares a port")
    waiting = env(None, phase="Provisioning", conditions=[
        {"type": "Ready", "status": "False", "reason": "DependencyNotReady"}])
    assert reach.no_endpoints("pr-1", waiting) == (
        "devenv pr-1 has no endpoints yet (Provisioning: DependencyNotReady)")


def test_the_endpoints_command_prints_a_table_json_or_the_sentence(
        capsys: pytest.CaptureFixture[str]) -> None:
    def run(obj: dict[str, Any], output: str) -> tuple[str, str]:
        out = io.StringIO()
        args = app.parser().parse_args(["endpoints", "pr-1", "-o", output])
        assert access.cmd_endpoints(FakeApi(obj), args, out) == 0  # type: ignore[arg-type]
        return out.getvalue(), capsys.readouterr().err

    table, err = run(env([EXPOSED]), "table")
    assert table.splitlines()[0].split() == ["SERVICE", "PORT", "ADDRESS", "URL"]
    assert err == ""
    assert json.loads(run(env([EXPOSED]), "json")[0]) == [EXPOSED]
    assert run(env([]), "table") == (
        "", "devenv pr-1 has no endpoints: none of its services declares a port\n")
    assert run(env([]), "json")[0] == "[]\n"


# --- what a user names -------------------------------------------------------------------

def test_the_namespace_comes_from_the_status_and_its_absence_is_explained() -> None:
    assert reach.namespace("pr-1", env()) == NS
    with pytest.raises(Unavailable, match=r"devenv pr-1 has no namespace yet \(Pending\); "
                                          r"`kubectl devenv wait pr-1` waits for it"):
        reach.namespace("pr-1", {"metadata": {"name": "pr-1"}})


def test_an_unknown_service_lists_the_services_of_the_environment() -> None:
    obj = env([INTERNAL])
    assert reach.service("pr-1", obj, "worker") == "worker"  # from the spec as well
    with pytest.raises(Unavailable) as info:
        reach.service("pr-1", obj, "wbe")
    assert str(info.value) == ("devenv pr-1 has no service 'wbe' "
                               "(services: db, web, admin, worker)")


SERVICE_OBJECT = {"spec": {"ports": [{"name": "http", "port": 8080},
                                     {"name": "metrics", "port": 9090}]}}


@pytest.mark.parametrize(("wanted", "number"), [
    (None, 8080), ("", 8080), ("http", 8080), ("9090", 9090), ("metrics", 9090)])
def test_a_port_is_named_or_numbered_and_defaults_to_the_first(
        wanted: str | None, number: int) -> None:
    ports = reach.ports(env([EXPOSED]), "web", SERVICE_OBJECT)
    assert reach.port("pr-1", "web", ports, wanted).number == number


def test_without_the_service_object_the_status_gives_the_numbers() -> None:
    ports = reach.ports(env([EXPOSED, INTERNAL]), "web")
    assert ports == [reach.Port(8080)]
    assert reach.port("pr-1", "web", ports, "8080").number == 8080


def test_an_unknown_port_lists_the_ports_and_a_portless_service_says_so() -> None:
    ports = reach.ports(env([EXPOSED]), "web", SERVICE_OBJECT)
    with pytest.raises(Unavailable) as info:
        reach.port("pr-1", "web", ports, "grpc")
    assert str(info.value) == ("service web of devenv pr-1 has no port 'grpc' "
                               "(ports: http (8080), metrics (9090))")
    with pytest.raises(Unavailable, match="service worker of devenv pr-1 has no port"):
        reach.port("pr-1", "worker", reach.ports(env([EXPOSED]), "worker"), None)


def test_a_job_is_found_by_its_name_or_its_jobs_and_one_not_started_says_so() -> None:
    obj = env()
    assert reach.job_object("pr-1", obj, "migrate") == "migrate-4f2a9c0d1e"
    assert reach.job_object("pr-1", obj, "migrate-4f2a9c0d1e") == "migrate-4f2a9c0d1e"
    with pytest.raises(Unavailable, match="job seed of devenv pr-1 has not started yet"):
        reach.job_object("pr-1", obj, "seed")
    with pytest.raises(Unavailable, match=r"has no job 'mgirate' \(jobs: migrate, seed\)"):
        reach.job_object("pr-1", obj, "mgirate")


# --- kubectl command lines ---------------------------------------------------------------

FLAGS = Connection("/k/config", "prod", "alice", "devs").flags()


def test_the_connection_flags_are_given_again_to_kubectl() -> None:
    assert FLAGS == ["--kubeconfig=/k/config", "--context=prod", "--as=alice",
                     "--as-group=devs"]
    assert Connection().flags() == []


def test_port_forward_command_lines() -> None:
    port = reach.Port(8080, "http")
    assert reach.port_forward([], NS, "web", port, None) == [
        "port-forward", "-n", NS, "svc/web", "8080:8080"]
    assert reach.port_forward(FLAGS, NS, "web", port, "0", "127.0.0.2") == [
        "port-forward", *FLAGS, "-n", NS, "svc/web", "0:8080", "--address", "127.0.0.2"]


def test_logs_command_lines() -> None:
    assert reach.logs([], NS, "deploy/web", reach.LogOptions()) == [
        "logs", "-n", NS, "deploy/web"]
    every = reach.LogOptions(follow=True, tail=20, previous=True, container="app",
                             since="10m", timestamps=True)
    assert reach.logs(FLAGS, NS, "job/migrate-1", every) == [
        "logs", *FLAGS, "-n", NS, "job/migrate-1", "-f", "--previous", "--timestamps",
        "--tail=20", "-c", "app", "--since=10m"]


def test_exec_command_lines() -> None:
    assert reach.exec_command([], NS, "web", ["echo", "hi"]) == [
        "exec", "-n", NS, "deploy/web", "--", "echo", "hi"]
    assert reach.exec_command(FLAGS, NS, "web", ["sh"], container="app", stdin=True,
                              tty=True) == [
        "exec", *FLAGS, "-n", NS, "deploy/web", "-c", "app", "-i", "-t", "--", "sh"]
    with pytest.raises(UsageError):
        reach.exec_command([], NS, "web", [])


# --- arguments ---------------------------------------------------------------------------

def parse(*argv: str) -> Any:
    own, command = app.split_command(argv)
    args = app.parser().parse_args(own)
    args.command_args = command
    return args


def test_exec_takes_everything_after_the_double_dash_as_the_command() -> None:
    args = parse("exec", "pr-1", "web", "-it", "-c", "app", "--", "sh", "-c", "ls -l", "--",
                 "-x")
    assert (args.name, args.service, args.stdin, args.tty, args.container) == (
        "pr-1", "web", True, True, "app")
    assert args.command_args == ["sh", "-c", "ls -l", "--", "-x"]
    assert app.split_command(["delete", "--", "x"]) == (["delete", "--", "x"], [])


def test_exec_without_a_command_is_a_usage_error_before_any_connection(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["exec", "pr-1", "web", "--kubeconfig", "/nonexistent"]) == 4
    assert "give the command to run after --" in capsys.readouterr().err


def test_port_forward_and_logs_arguments() -> None:
    args = parse("port-forward", "pr-1", "web:http", "18080", "--address", "127.0.0.1")
    assert (args.target, args.local_port, args.address) == ("web:http", "18080", "127.0.0.1")
    assert reach.split_target(args.target) == ("web", "http")
    assert reach.split_target("web") == ("web", None)
    args = parse("logs", "pr-1", "job/migrate", "-f", "--tail", "5", "-p")
    assert (args.target, args.follow, args.tail, args.previous) == ("job/migrate", True, 5,
                                                                    True)


@pytest.mark.parametrize("argv", [
    ["port-forward", "pr-1"], ["logs", "pr-1"], ["logs", "pr-1", "web", "--tail", "x"],
    ["endpoints", "pr-1", "-o", "yaml"], ["completion", "fish"]])
def test_bad_arguments_exit_4(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        app.main(argv)
    assert info.value.code == 4
    assert "error:" in capsys.readouterr().err


# --- handing over to kubectl -------------------------------------------------------------

class FakeApi:
    """The two reads the reach commands make."""

    def __init__(self, obj: dict[str, Any] | None, service: dict[str, Any] | None = None
                 ) -> None:
        self.obj, self.service = obj, service

    def get(self, kind: kinds.Kind, name: str, namespace: str | None = None
            ) -> dict[str, Any] | None:
        return self.obj if kind == kinds.DEVENV else self.service


def command_line(*argv: str, obj: dict[str, Any] | None = None,
                 service: dict[str, Any] | None = None) -> str:
    cut = argv.index("--") if "--" in argv else len(argv)  # before exec's command
    args = parse(*argv[:cut], "--print-command", *argv[cut:])
    assert args.print_command
    out = io.StringIO()
    code = commands.COMMANDS[args.command](FakeApi(obj or env([EXPOSED]), service),  # type: ignore[arg-type]
                                         args, out)
    assert code == 0
    return out.getvalue()


def test_print_command_shows_what_would_run() -> None:
    assert command_line("port-forward", "pr-1", "web:metrics", service=SERVICE_OBJECT) == (
        f"kubectl port-forward -n {NS} svc/web 9090:9090\n")
    assert command_line("logs", "pr-1", "job/migrate", "--context", "prod") == (
        f"kubectl logs --context=prod -n {NS} job/migrate-4f2a9c0d1e\n")
    assert command_line("exec", "pr-1", "web", "--", "sh", "-c", "echo $HOME") == (
        f"kubectl exec -n {NS} deploy/web -- sh -c 'echo $HOME'\n")


def test_a_bad_local_port_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="LOCAL_PORT 'http'"):
        command_line("port-forward", "pr-1", "web", "http")


def test_the_plugin_becomes_kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "kubectl"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    became: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(access.os, "execv", lambda path, argv: became.append((path, argv)))
    access._hand_over(["logs", "-n", NS, "deploy/web"], False, io.StringIO())
    assert became == [(str(binary), [str(binary), "logs", "-n", NS, "deploy/web"])]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="kubectl is not on PATH"):
        access._hand_over(["logs"], False, io.StringIO())
