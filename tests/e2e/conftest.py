"""End-to-end fixtures: a real local control plane (see the ``localcluster`` package).

``cluster`` (session) brings up a cluster in ``<root>/.localcluster/test`` on port base
16443 owned by this pytest process (it stops itself if pytest dies, even on SIGKILL) and
tears it down at the end. ``kubectl`` runs the venv's real kubectl against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

import localcluster

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / ".localcluster" / "test"
PORT_BASE = 16443


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) binaries before any test runs, outside per-test timeouts."""
    if any(item.get_closest_marker("e2e") for item in session.items):
        localcluster.build()


def kubectl_path() -> str:
    venv_kubectl = Path(sys.prefix) / "bin" / "kubectl"
    found = str(venv_kubectl) if venv_kubectl.is_file() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl not found (install the dev dependencies: uv sync)")
    return found


def run_kubectl(
    kubeconfig: Path,
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl --kubeconfig KUBECONFIG ARGS``; with ``check`` fail loudly on errors."""
    cmd = [kubectl_path(), f"--kubeconfig={kubeconfig}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kubectl {' '.join(args)} failed with exit {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture(scope="session")
def cluster() -> Iterator[localcluster.Cluster]:
    try:
        c = localcluster.up(state_dir=STATE_DIR, port_base=PORT_BASE, owner_pid=os.getpid())
    except BaseException:
        localcluster.down(STATE_DIR)
        raise
    try:
        yield c
    finally:
        localcluster.down(STATE_DIR)


@pytest.fixture(scope="session")
def kubectl(cluster: localcluster.Cluster) -> Kubectl:
    def _kubectl(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(cluster.kubeconfig, *args, input=input, check=check)

    return _kubectl
