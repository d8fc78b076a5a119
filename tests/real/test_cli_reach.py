"""`kubectl devenv endpoints`, `port-forward`, `logs` and `exec` on real containers, with no
namespace or pod named by hand: the URL `endpoints` prints answers through the real
gateway, an HTTP request from the host reaches nginx through the forwarded loopback port,
the service's log shows that very request, a job's log shows what the job printed, and a
command run in the service's container prints its output and returns its exit code. kwok
has no containers, so tests/e2e/test_cli_reach.py checks only the command lines; here
they run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import (
    Kubectl,
    apply,
    delete_env,
    kubectl_path,
    manifest,
    unique,
    wait_for,
    wait_ready,
)
from tests.real.helpers import RealCluster, http_get, timings, via_gateway

JOB_SAYS = "hello from the job, 42 rows migrated"
SERVICES = [{"name": "web", "image": "nginx:1.27",
             "ports": [{"name": "http", "port": 80, "expose": True}],
             "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}}]
JOBS = [{"name": "hello", "image": "nginx:1.27", "command": ["sh", "-c", f"echo '{JOB_SAYS}'"]}]
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80")


def plugin_env(real_cluster: RealCluster) -> dict[str, str]:
    tools = [str(Path(kubectl_path()).parent), str(Path(sys.prefix) / "bin")]
    return {**os.environ, "KUBECONFIG": str(real_cluster.cluster.kubeconfig),
            "PATH": os.pathsep.join([*tools, os.environ.get("PATH", "")])}


def plugin(real_cluster: RealCluster, *args: str, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    """`kubectl devenv ...` through the real kubectl, the plugin found on PATH."""
    return subprocess.run([kubectl_path(), "devenv", *args], env=plugin_env(real_cluster),
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def web(installed: dict[str, float], kubectl: Kubectl) -> Iterator[str]:
    name = unique("cli-reach")
    apply(kubectl, manifest(name, services=SERVICES, jobs=JOBS))
    try:
        wait_ready(kubectl, name, timeout=180)
        yield name
    finally:
        delete_env(kubectl, name)


def test_the_url_endpoints_prints_answers_through_the_gateway(
        web: str, real_cluster: RealCluster, gateway: str) -> None:
    def ready_endpoint() -> dict[str, Any] | None:
        listed = plugin(real_cluster, "endpoints", web, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        (endpoint,) = json.loads(listed.stdout)
        return endpoint if endpoint.get("ready") else None

    endpoint = wait_for(ready_endpoint, 60, interval=1, what=f"{web}'s URL ready")
    url = endpoint["url"]
    assert url == f"http://web-{web}.devenv.localtest/"
    assert f"URL: {url}" in plugin(real_cluster, "endpoints", web).stdout.splitlines()
    host = str(urlsplit(url).hostname)
    _, body = wait_for(lambda: (r := via_gateway(gateway, host))[0] == 200 and r, 30,
                          interval=0.5, what=f"200 from {url}")
    assert "nginx" in body.lower()


def test_exec_runs_in_the_services_container_and_returns_its_exit_code(
        web: str, real_cluster: RealCluster) -> None:
    said = plugin(real_cluster, "exec", web, "web", "--", "echo", "hi")
    assert (said.returncode, said.stdout) == (0, "hi\n"), said.stderr
    failed = plugin(real_cluster, "exec", web, "web", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3, failed.stderr


def _forwarded_port(proc: subprocess.Popen[str], patience: float = 30) -> int:
    """The local port kubectl says it forwards (it picks a free one for LOCAL_PORT 0)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + patience
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = FORWARDING.search(line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"kubectl port-forward said no port: {seen!r}")


def test_port_forward_answers_http_on_loopback_and_logs_show_the_request(
        web: str, real_cluster: RealCluster) -> None:
    marker = f"/?from={web}"
    started = time.monotonic()
    body: Any = ""
    with subprocess.Popen(  # the plugin becomes kubectl, so this is kubectl's process
            [kubectl_path(), "devenv", "port-forward", web, "web:http", "0"],
            env=plugin_env(real_cluster), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) as proc:
        try:
            port = _forwarded_port(proc)
            body = http_get(f"http://127.0.0.1:{port}{marker}", patience=20)
            timings["cli_port_forward_first_answer_s"] = round(time.monotonic() - started, 1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert "nginx" in body.lower(), body
    logs = plugin(real_cluster, "logs", web, "web", "--tail", "200")
    assert logs.returncode == 0, logs.stderr
    assert f"GET {marker} " in logs.stdout, logs.stdout[-2000:]


def test_a_jobs_log_is_found_by_the_jobs_name(web: str, real_cluster: RealCluster) -> None:
    logs = plugin(real_cluster, "logs", web, "job/hello")
    assert logs.returncode == 0, logs.stderr
    assert JOB_SAYS in logs.stdout
