"""`kubectl devenv wait` on real containers: a crash loop fails the wait at once (exit 1),
and the report a CI log shows holds the container's own last lines, from its previous
instance, which kwok cannot produce; `diagnose` keeps them in the bundle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Kubectl, apply, delete_env, kubectl_path, manifest, unique
from tests.real.helpers import RealCluster, timings

IMAGE = "localcluster.local/busybox:1"
CLASS = "real-ci-fail-fast"
# What a service that cannot start prints before it exits.
CRASH = ('echo "api: connecting to the database at $DB_HOST"; '
         'echo "api: fatal: DB_HOST is not set" >&2; exit 3')


@pytest.fixture(scope="module")
def fail_fast_class(installed: dict[str, float], kubectl: Kubectl) -> Iterator[str]:
    # One restart is enough here: the kubelet's back-off makes three take over a minute.
    apply(kubectl, {
        "apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
        "metadata": {"name": CLASS},
        "spec": {"podSecurity": "baseline",
                 "failFast": {"crashLoopRestarts": 1}}})
    yield CLASS
    kubectl("delete", "devenvironmentclass", CLASS, "--ignore-not-found", "--wait=false")


def plugin(real_cluster: RealCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl devenv ...` through the real kubectl, the plugin found on PATH."""
    tools = [str(Path(kubectl_path()).parent), str(Path(sys.prefix) / "bin")]
    env = {**os.environ, "KUBECONFIG": str(real_cluster.cluster.kubeconfig),
           "PATH": os.pathsep.join([*tools, os.environ.get("PATH", "")])}
    return subprocess.run([kubectl_path(), "devenv", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_crash_loop_ends_the_wait_with_the_container_s_last_lines(
        fail_fast_class: str, kubectl: Kubectl, real_cluster: RealCluster,
        tmp_path: Path) -> None:
    name = unique("ci-crash")
    apply(kubectl, manifest(name, className=fail_fast_class, services=[
        {"name": "api", "image": IMAGE, "command": ["sh", "-c", CRASH]}]))
    try:
        started = time.monotonic()
        summary = tmp_path / "summary.md"
        waited = plugin(real_cluster, "wait", name, "--timeout", "5m",
                        "--summary", str(summary))
        took = time.monotonic() - started
        timings["ci_wait_crash_loop_s"] = round(took, 1)
        report = waited.stdout
        print(waited.stderr + report)  # what a CI log shows
        assert waited.returncode == 1, waited.stderr + report
        assert took < 120, f"the wait took {took:.0f}s"
        assert "CrashLooping" in report
        assert "exit 3" in report or "(exit 3)" in report
        # The container's own words, from the instance that crashed.
        assert "api: fatal: DB_HOST is not set" in report
        assert "previous" in report
        assert "api: fatal: DB_HOST is not set" in summary.read_text()

        bundle = tmp_path / "bundle"
        diagnosed = plugin(real_cluster, "diagnose", name, "-o", str(bundle))
        assert diagnosed.returncode == 0, diagnosed.stderr
        logs = "".join(p.read_text() for p in (bundle / "logs").iterdir())
        assert "api: connecting to the database at" in logs
    finally:
        delete_env(kubectl, name)
