"""End-to-end fixtures: a real local control plane (see the ``localcluster`` package).

``cluster`` (session) brings up a cluster in ``<root>/.localcluster/test`` on port base
16443 owned by this pytest process (it stops itself if pytest dies, even on SIGKILL) and
tears it down at the end; ``E2E_STATE_DIR`` and ``E2E_PORT_BASE`` choose others.
``kubectl`` runs the venv's real kubectl against it.

Tests import what they share from ``helpers``, not from here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

import localcluster
from tests.e2e.helpers import (
    PORT_BASE,
    ROOT,
    STATE_DIR,
    Kubectl,
    Operator,
    run_kubectl,
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) binaries before any test runs, outside per-test timeouts."""
    if any(item.get_closest_marker("e2e") for item in session.items):
        localcluster.build()


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


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/devenvironments.shipit.dev",
            "--timeout=60s")


@pytest.fixture(scope="session")
def operator(cluster: localcluster.Cluster, crds: None) -> Iterator[Operator]:
    op = Operator(cluster.kubeconfig, STATE_DIR / "operator-logs")
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def running_operator(operator: Operator) -> Operator:
    """The session's operator, (re)started if an earlier test stopped it."""
    if operator.proc is None or operator.proc.poll() is not None:
        operator.proc = None
        operator.start()
    return operator


@pytest.fixture
def names(kubectl: Kubectl) -> Iterator[list[str]]:
    """DevEnvironment names a test creates; whatever is left is deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        kubectl("delete", "devenvironment", name, "--ignore-not-found", "--wait=false")
