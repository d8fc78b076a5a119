"""Shell completion, without a cluster: the candidates ``kubectl_complete-devenv`` gives
(commands, flags and their values from the plugin's parser; environments, services, ports
and jobs from a fake cluster), what kubectl itself makes of them (the real kubectl runs the
hook), and the bash script's replies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devenv_cli import app, complete, shells
from devenv_cli.api import Connection
from devenv_operator import errors

BIN = Path(sys.executable).parent
ENV = {"metadata": {"name": "pr-1"}, "status": {
    "namespace": "dev-pr-1",
    "services": [{"name": "db", "ready": True}, {"name": "web", "ready": True},
                 {"name": "worker", "ready": True}],
    "endpoints": [{"service": "db", "port": 5432, "internal": "db.dev-pr-1.svc:5432"},
                  {"service": "web", "port": 80, "internal": "web.dev-pr-1.svc:80"},
                  {"service": "web", "port": 9090, "internal": "web.dev-pr-1.svc:9090"}],
    "jobs": [{"name": "migrate", "state": "Complete", "jobName": "migrate-1"}]}}


made: list[Connection] = []  # every connection a FakeCluster was made for


class FakeCluster:
    def __init__(self, connection: Connection) -> None:
        made.append(connection)

    def environments(self) -> list[str]:
        return ["pr-1", "pr-2", "main"]

    def environment(self, name: str) -> dict[str, Any] | None:
        return ENV if name == "pr-1" else None


class DownCluster(FakeCluster):
    def environments(self) -> list[str]:
        raise errors.Transient("connection refused")

    def environment(self, name: str) -> dict[str, Any] | None:
        raise errors.Forbidden("no")


def values(*words: str, cluster: Any = FakeCluster) -> tuple[list[str], int]:
    found, directive = complete.candidates(list(words), cluster)
    return [c.split("\t")[0] for c in found], directive


def test_commands_with_their_help_and_the_top_level_flags() -> None:
    found, directive = complete.candidates([""], FakeCluster)
    assert "logs\tPrint the logs of a service (its Deployment) or a job (job/NAME)." in found
    assert {c.split("\t")[0] for c in found} >= {
        "create", "wait", "endpoints", "port-forward", "logs", "exec", "completion"}
    assert directive == complete.NO_FILES
    assert values("po") == (["port-forward"], complete.NO_FILES)
    assert values("--v") == (["--version"], complete.NO_FILES)


def test_flags_and_flag_values_come_from_the_parser() -> None:
    found, _ = values("logs", "pr-1", "web", "--")
    assert {"--follow", "--tail", "--previous", "--container", "--kubeconfig"} <= set(found)
    assert values("endpoints", "pr-1", "-o", "") == (["table", "wide", "json"],
                                                     complete.NO_FILES)
    assert values("completion", "") == (["bash", "zsh"], complete.NO_FILES)
    assert values("diagnose", "pr-1", "-o", "") == ([], complete.DIRECTORIES)
    assert values("create", "-f", "") == ([], complete.FILES)
    assert values("create", "--template", "") == ([], complete.NO_FILES)
    assert values("create", "") == ([], complete.NO_FILES)  # a new name: nothing to offer


def test_environments_services_ports_and_jobs_come_from_the_cluster() -> None:
    assert values("wait", "pr") == (["pr-1", "pr-2"], complete.NO_FILES)
    assert values("logs", "pr-1", "") == (["db", "web", "worker", "job/migrate"],
                                          complete.NO_FILES)
    assert values("exec", "pr-1", "w") == (["web", "worker"], complete.NO_FILES)
    assert values("port-forward", "pr-1", "web") == (["web", "web:80", "web:9090"],
                                                     complete.NO_FILES)
    assert values("rerun-job", "pr-1", "") == (["migrate"], complete.NO_FILES)
    assert values("logs", "gone", "") == ([], complete.NO_FILES)
    assert values("logs", "pr-1", "web", "") == ([], complete.NO_FILES)  # nothing more
    assert values("exec", "pr-1", "web", "--", "") == ([], complete.FILES)


def test_the_cluster_is_the_one_the_typed_flags_name() -> None:
    made.clear()
    values("logs", "--context", "prod", "--as=alice", "-f", "pr-1", "")
    assert made == [Connection(None, "prod", "alice", None)]


def test_a_cluster_that_fails_gives_no_candidates_and_no_error() -> None:
    assert values("wait", "", cluster=DownCluster) == ([], complete.NO_FILES)
    assert values("logs", "pr-1", "", cluster=DownCluster) == ([], complete.NO_FILES)
    assert values("nonsense", "") == ([], complete.NO_FILES)


def test_the_hook_prints_candidates_then_the_directive(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))  # names: none, silently
    assert complete.main(["completion", ""]) == 0
    assert capsys.readouterr().out == "bash\nzsh\n:4\n"
    assert complete.main(["wait", ""]) == 0
    assert capsys.readouterr() == (":4\n", "")


def clean_env(tmp_path: Path, path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTHONPATH")}
    return env | {"PATH": path, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}


def test_kubectl_itself_runs_the_hook_for_kubectl_devenv(tmp_path: Path) -> None:
    kubectl = BIN / "kubectl"
    if not kubectl.is_file():
        pytest.skip("no kubectl in the venv (the dev dependencies install one)")
    proc = subprocess.run([str(kubectl), "__complete", "devenv", "port"], text=True,
                          capture_output=True, timeout=60, check=False,
                          env=clean_env(tmp_path, f"{BIN}{os.pathsep}/usr/bin:/bin"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("port-forward\tForward a local port")
    assert lines[-1] == ":4"


def bash_replies(tmp_path: Path, line: str, hook_output: str) -> list[str]:
    """COMPREPLY of the bash script for ``line`` (the cursor at its end), with a hook
    that answers ``hook_output`` and records the words it was given."""
    hook = tmp_path / "bin" / shells.HOOK
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/words\n"
                    f"printf '{hook_output}'\n")
    hook.chmod(0o755)
    script = tmp_path / "completion.bash"
    script.write_text(shells.script("bash"))
    probe = (f'source {script}; COMP_LINE="$1"; COMP_POINT=${{#1}}; _kubectl_devenv; '
             'printf "%s\\n" "${COMPREPLY[@]}"')
    proc = subprocess.run(["bash", "-c", probe, "bash", line], text=True,
                          capture_output=True, timeout=30, check=True,
                          env=clean_env(tmp_path, f"{hook.parent}{os.pathsep}/usr/bin:/bin"))
    return [r for r in proc.stdout.splitlines() if r]


def test_the_bash_script_completes_through_the_hook(tmp_path: Path) -> None:
    assert bash_replies(tmp_path, "kubectl-devenv lo", r"logs\tPrint the logs\n:4\n") \
        == ["logs"]
    assert (tmp_path / "words").read_text() == "lo\n"
    # api:8080 is one word for the hook; bash counts what follows the colon as the word.
    replies = bash_replies(tmp_path, "kubectl-devenv port-forward pr-1 web:",
                           r"web:80\nweb:9090\n:4\n")
    assert replies == ["80", "9090"]
    assert (tmp_path / "words").read_text() == "port-forward\npr-1\nweb:\n"
    bash_replies(tmp_path, "kubectl-devenv logs pr-1 ", r":4\n")
    assert (tmp_path / "words").read_text() == "logs\npr-1\n\n"


def test_the_bash_script_falls_back_to_file_names_only_when_told(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "manifest.yaml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert bash_replies(tmp_path, "kubectl-devenv create -f man", r":0\n") == [
        "manifest.yaml"]
    assert bash_replies(tmp_path, "kubectl-devenv wait man", r":4\n") == []


def test_the_completion_command_prints_the_scripts(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["completion", "bash"]) == 0
    bash = capsys.readouterr().out
    assert "complete -F _kubectl_devenv kubectl-devenv" in bash
    assert f"{shells.HOOK} " in bash
    subprocess.run(["bash", "-n"], input=bash, text=True, check=True, timeout=30)
    assert app.main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert zsh.startswith("#compdef kubectl-devenv\n")
    assert "compdef _kubectl_devenv kubectl-devenv" in zsh


def zsh_offers(tmp_path: Path, words: list[str], hook_output: str) -> str:
    """What the zsh script hands to _describe or _files for ``words`` (the last one being
    completed), with those two stubbed: zsh's completion system needs a terminal."""
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("no zsh here")
    hook = tmp_path / "bin" / shells.HOOK
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/words\n"
                    f"printf '{hook_output}'\n")
    hook.chmod(0o755)
    script = tmp_path / "completion.zsh"
    script.write_text(shells.script("zsh"))
    probe = ("compdef() { print -r -- \"compdef $*\"; }; "
             "_describe() { print -rl -- \"describe $1\" \"${(@P)2}\"; }; "
             "_files() { print -r -- \"files $*\"; }; "
             f"source {script}; words=(\"$@\"); CURRENT=$#; _kubectl_devenv")
    proc = subprocess.run([zsh, "-f", "-c", probe, "zsh", *words], text=True,
                          capture_output=True, timeout=30, check=True,
                          env=clean_env(tmp_path, f"{hook.parent}{os.pathsep}/usr/bin:/bin"))
    return proc.stdout


def test_the_zsh_script_completes_through_the_hook(tmp_path: Path) -> None:
    offered = zsh_offers(tmp_path, ["kubectl-devenv", "port-forward", "pr-1", "web:"],
                         r"web:80\nweb:9090\tmetrics\n:4\n")
    assert offered.splitlines() == ["compdef _kubectl_devenv kubectl-devenv",
                                    "describe kubectl devenv", "web\\:80", "web\\:9090:metrics"]
    assert (tmp_path / "words").read_text() == "port-forward\npr-1\nweb:\n"
    assert zsh_offers(tmp_path, ["kubectl-devenv", "create", "-f", ""], r":0\n").splitlines() \
        == ["compdef _kubectl_devenv kubectl-devenv", "files "]
    assert zsh_offers(tmp_path, ["kubectl-devenv", "diagnose", "x", "-o", ""], r":16\n") \
        .splitlines()[1:] == ["files -/"]
    assert zsh_offers(tmp_path, ["kubectl-devenv", "wait", ""], r":4\n").splitlines()[1:] == []
