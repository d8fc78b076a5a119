"""Reaching an environment with `kubectl devenv`, on the local control plane, run through
the real kubectl as users run it: `endpoints` from a real environment's status (table,
wide, JSON), the kubectl command lines `port-forward`, `logs` and `exec` hand over to (the
namespace, the service's Service, Deployment and ports, a job's Job, found in the cluster),
the hand-over itself (the plugin becomes kubectl: its argv and its exit code), the errors
that list what exists, and completion that kubectl asks the plugin for.

kwok runs no containers, so nothing here reads a log or forwards a packet: that is
tests/real/test_cli_reach.py, on a real node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster
from tests.e2e.helpers import (
    ROOT,
    Kubectl,
    Operator,
    apply,
    delete_env,
    devenv,
    kubectl_path,
    manifest,
    unique,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.e2e

SERVICES = [
    {"name": "web", "image": "nginx:1.27",
     "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]},
    {"name": "db", "image": "postgres:16", "ports": [{"name": "pg", "port": 5432}]},
    {"name": "worker", "image": "registry.example.com/shop/worker:1"},
]
JOBS = [{"name": "migrate", "image": "registry.example.com/shop/api:1",
         "command": ["./manage", "migrate"], "dependsOn": ["db"]}]


def plugin_env(cluster: localcluster.Cluster, path_first: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_ACTIONS", "GITLAB_CI", "KUBERNETES_SERVICE_HOST")}
    bins = [str(path_first)] if path_first else []
    env["PATH"] = os.pathsep.join([*bins, str(Path(sys.prefix) / "bin"), env.get("PATH", "")])
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    return env


@pytest.fixture
def devenv_cli(cluster: localcluster.Cluster) -> Any:
    """``kubectl devenv ARGS`` through the real kubectl; the finished process."""
    def run(*args: str, path_first: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl_path(), "devenv", *args], capture_output=True,
                              text=True, env=plugin_env(cluster, path_first), timeout=timeout,
                              check=False)
    return run


@pytest.fixture(scope="module")
def stack(kubectl: Kubectl, operator: Operator) -> Iterator[dict[str, Any]]:
    """A Ready environment with two ported services, one without ports, and a job."""
    if operator.proc is None or operator.proc.poll() is not None:
        operator.start()
    name = unique("cli-reach")
    apply(kubectl, manifest(name, services=SERVICES, jobs=JOBS))
    try:
        yield wait_ready(kubectl, name, timeout=120)
    finally:
        delete_env(kubectl, name)


def name_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


# --- endpoints -------------------------------------------------------------------------------

def test_endpoints_print_the_environments_status_as_a_table_wide_and_json(
        devenv_cli: Any, stack: dict[str, Any]) -> None:
    name, ns = name_of(stack), stack["status"]["namespace"]
    status_endpoints = stack["status"]["endpoints"]
    as_json = devenv_cli("endpoints", name, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == status_endpoints
    assert {(e["service"], e["port"]) for e in status_endpoints} == {
        ("web", 8080), ("web", 9090), ("db", 5432)}
    table = [line.split() for line in devenv_cli("endpoints", name).stdout.splitlines()]
    assert table[0] == ["SERVICE", "PORT", "ADDRESS", "URL"]
    assert ["web", "8080", f"web.{ns}.svc.cluster.local:8080", "-"] in table
    assert ["db", "5432", f"db.{ns}.svc.cluster.local:5432", "-"] in table
    wide = [line.split() for line in devenv_cli("endpoints", name, "-o", "wide").stdout
            .splitlines()]
    assert wide[0] == ["SERVICE", "PORT", "ADDRESS", "URL", "READY", "REASON"]
    assert len(wide) == 1 + len(status_endpoints)


def test_an_environment_without_ports_says_it_has_no_endpoints(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator,
        names: list[str]) -> None:
    name = unique("cli-noports")
    names.append(name)
    apply(kubectl, manifest(name, services=[{"name": "worker", "image": "nginx:1.27"}]))
    wait_ready(kubectl, name)
    proc = devenv_cli("endpoints", name)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == (f"devenv {name} has no endpoints: none of its services declares "
                           "a port\n")
    assert devenv_cli("endpoints", name, "-o", "json").stdout == "[]\n"


def _has_property(schema: Any, name: str) -> bool:
    if isinstance(schema, dict):
        if name in (schema.get("properties") or {}):
            return True
        return any(_has_property(v, name) for v in schema.values())
    return isinstance(schema, list) and any(_has_property(v, name) for v in schema)


def crd_knows_exposure() -> bool:
    """Whether ports[].expose and a class's exposure are served (they come with the
    gateway work; until then the test is skipped)."""
    crds = [yaml.safe_load((ROOT / "crds" / f"{plural}.shipit.dev.yaml").read_text())
            for plural in ("devenvironments", "devenvironmentclasses")]
    return _has_property(crds[0], "expose") and _has_property(crds[1], "exposure")


@pytest.mark.skipif(not crd_knows_exposure(), reason="the CRD has no ports[].expose")
def test_an_exposed_port_shows_its_url_ready_and_reason_as_the_status_has_them(
        devenv_cli: Any, kubectl: Kubectl, running_operator: Operator, names: list[str],
        make_class: Any) -> None:
    cls = make_class(exposure={"gateway": {"name": "missing-gateway", "namespace": "default"},
                               "baseDomain": "devenv.example.test", "scheme": "http"})
    name = unique("cli-url")
    names.append(name)
    apply(kubectl, manifest(name, className=cls, services=[
        {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "port": 8080,
                                                           "expose": True}]}]))

    def with_url() -> dict[str, Any] | None:
        obj = devenv(kubectl, name) or {}
        found = (obj.get("status") or {}).get("endpoints") or []
        return obj if any(e.get("url") for e in found) else None

    obj = wait_for(with_url, 60, what=f"{name} endpoints with a url")
    (endpoint,) = obj["status"]["endpoints"]
    assert endpoint["url"] == f"http://web-{name}.devenv.example.test/"
    assert endpoint["ready"] is False  # the class names a Gateway that does not exist
    as_json = json.loads(devenv_cli("endpoints", name, "-o", "json").stdout)
    assert as_json == [endpoint]
    assert list(as_json[0]) == ["service", "port", "internal", "url", "ready", "reason"]
    table = devenv_cli("endpoints", name).stdout.splitlines()
    assert table[1].split()[3:] == [endpoint["url"], "(not", "ready)"]
    assert f"URL: {obj['status']['url']}" in table
    cond = next(c for c in obj["status"]["conditions"] if c["type"] == "EndpointsReady")
    assert table[-1].startswith(f"EndpointsReady=False ({cond['reason']})")
    wide = devenv_cli("endpoints", name, "-o", "wide").stdout.splitlines()
    assert wide[1].split()[3:] == [endpoint["url"], "false", endpoint["reason"]]


# --- the command lines handed to kubectl ---------------------------------------------------

def test_port_forward_finds_the_namespace_the_service_and_its_port(
        devenv_cli: Any, stack: dict[str, Any], cluster: localcluster.Cluster) -> None:
    name, ns = name_of(stack), stack["status"]["namespace"]
    cases = {
        ("web",): f"kubectl port-forward -n {ns} svc/web 8080:8080",
        ("web:metrics", "0"): f"kubectl port-forward -n {ns} svc/web 0:9090",
        ("web:9090", "19090", "--address", "127.0.0.1"):
            f"kubectl port-forward -n {ns} svc/web 19090:9090 --address 127.0.0.1",
        ("db", "--kubeconfig", str(cluster.kubeconfig)):
            f"kubectl port-forward --kubeconfig={cluster.kubeconfig} -n {ns} svc/db 5432:5432",
    }
    for argv, expected in cases.items():
        proc = devenv_cli("port-forward", name, *argv, "--print-command")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected + "\n"


def test_logs_and_exec_find_the_deployment_and_the_jobs_job(
        devenv_cli: Any, stack: dict[str, Any]) -> None:
    name, ns = name_of(stack), stack["status"]["namespace"]
    (job,) = stack["status"]["jobs"]
    logs = devenv_cli("logs", name, "web", "-f", "--tail", "20", "--print-command")
    assert logs.stdout == f"kubectl logs -n {ns} deploy/web -f --tail=20\n", logs.stderr
    job_logs = devenv_cli("logs", name, "job/migrate", "--print-command")
    assert job_logs.stdout == f"kubectl logs -n {ns} job/{job['jobName']}\n", job_logs.stderr
    assert job["jobName"].startswith("migrate-")
    shell = devenv_cli("exec", name, "web", "-it", "--print-command", "--", "sh", "-c",
                       "echo $HOSTNAME")
    assert shell.stdout == f"kubectl exec -n {ns} deploy/web -i -t -- sh -c 'echo $HOSTNAME'\n"


def test_the_plugin_becomes_kubectl_with_its_arguments_and_exit_code(
        devenv_cli: Any, stack: dict[str, Any], tmp_path: Path) -> None:
    """A kubectl earlier on PATH than the real one (which still dispatches to the plugin,
    by its own path) records what it was run with and exits 7."""
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/argv\nexit 7\n")
    fake.chmod(0o755)
    name, ns = name_of(stack), stack["status"]["namespace"]
    proc = devenv_cli("exec", name, "web", "--", "cat", "/etc/hostname", path_first=fake.parent)
    assert proc.returncode == 7, proc.stderr
    assert (tmp_path / "argv").read_text().splitlines() == [
        "exec", "-n", ns, "deploy/web", "--", "cat", "/etc/hostname"]


def test_what_is_not_there_is_named_with_what_is(devenv_cli: Any,
                                                 stack: dict[str, Any]) -> None:
    name = name_of(stack)
    cases = [
        (("port-forward", name, "wbe"), 1,
         f"error: devenv {name} has no service 'wbe' (services: web, db, worker)\n"),
        (("port-forward", name, "web:grpc"), 1,
         f"error: service web of devenv {name} has no port 'grpc' "
         "(ports: http (8080), metrics (9090))\n"),
        (("port-forward", name, "worker"), 1,
         f"error: service worker of devenv {name} has no port (it declares none, so there "
         "is no Service to forward to)\n"),
        (("logs", name, "job/seed"), 1,
         f"error: devenv {name} has no job 'seed' (jobs: migrate)\n"),
        (("exec", name, "api", "--", "true"), 1,
         f"error: devenv {name} has no service 'api' (services: web, db, worker)\n"),
    ]
    for argv, code, err in cases:
        proc = devenv_cli(*argv)
        assert (proc.returncode, proc.stderr) == (code, err), argv
    missing = unique("cli-none")
    for argv in (("logs", missing, "web"), ("port-forward", missing, "web"),
                 ("exec", missing, "web", "--", "true"), ("endpoints", missing)):
        proc = devenv_cli(*argv)
        assert proc.returncode == 3, argv
        assert proc.stderr == f'error: devenvironment "{missing}" not found\n'
    usage = devenv_cli("exec", name, "web")
    assert usage.returncode == 4
    assert "give the command to run after --" in usage.stderr
    for proc in (usage, devenv_cli("port-forward", name, "web", "http")):
        no_traceback(proc)
        assert proc.returncode == 4


# --- completion ---------------------------------------------------------------------------

def test_kubectl_completes_environments_and_their_services_from_the_cluster(
        stack: dict[str, Any], cluster: localcluster.Cluster) -> None:
    name = name_of(stack)

    def complete(*words: str) -> list[str]:
        proc = subprocess.run([kubectl_path(), "__complete", "devenv", *words],
                              capture_output=True, text=True, env=plugin_env(cluster),
                              timeout=60, check=True)
        *found, directive = proc.stdout.splitlines()
        assert directive == ":4", proc.stderr
        return [line.split("\t")[0] for line in found]

    assert name in complete("logs", name[:-2])
    assert complete("logs", name, "") == ["web", "db", "worker", "job/migrate"]
    assert complete("port-forward", name, "web") == ["web", "web:8080", "web:9090"]
    assert complete("rerun-job", name, "") == ["migrate"]
