"""The real-node tier (``make test-real``): a local control plane with one real node
(containerd + runc + kubelet + kube-proxy on this machine), the operator image built from
the Dockerfile and installed in-cluster from ``deploy/``, and real pods.

Needs root (packages, containerd, the host's network and cgroups); without it every test
fails with that reason rather than being skipped. ``REAL_STATE_DIR`` (default
``<root>/.localcluster/real``) and ``REAL_PORT_BASE`` (default 26443) place the cluster;
one already running there (``make real-up``) is reused and left running.
Only one real node can run on a machine at a time (it owns the ``lcnode0`` bridge and the
``kubepods`` cgroups). ``make test`` never collects this directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import localcluster
from localcluster.realnode import realup
from tests.e2e.helpers import Kubectl, run_kubectl
from tests.real.helpers import STATE_DIR, RealCluster, gateway_address, timings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real: needs root and a real node (make test-real)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.real)
    # The teardown test stops the cluster: whatever the files are called, it runs last.
    items.sort(key=lambda item: item.path.name == "test_teardown.py")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if timings:
        terminalreporter.write_line("real-node figures: " + json.dumps(timings))


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[RealCluster]:
    """The cluster of ``make real-up``: reused when one runs in REAL_STATE_DIR (and left
    running), else started for the session (and stopped at its end)."""
    if os.geteuid() != 0:
        pytest.fail("the real-node tier needs root: it installs Debian packages, runs "
                    "containerd and kubelet and changes the host's network and cgroups")
    done = realup.real_up(owner_pid=os.getpid())
    images_built = done.figures.pop("images")
    timings["operator_image"] = {k: v for k, v in images_built.items() if k != "lookalikes"}
    timings["lookalike_images"] = images_built["lookalikes"]
    timings.update(done.figures)
    c = done.cluster
    rc = RealCluster(c)
    try:
        yield rc
    finally:
        if c.started and not rc.stopped:
            localcluster.down(STATE_DIR)


@pytest.fixture(scope="session")
def kubectl(real_cluster: RealCluster) -> Kubectl:
    def _kubectl(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(real_cluster.cluster.kubeconfig, *args, input=input, check=check)

    return _kubectl


@pytest.fixture(scope="session")
def installed(real_cluster: RealCluster) -> dict[str, float]:
    """deploy/ (then deploy/classes/) applied as docs/install.md says, with the image built
    here (``realup`` does it, see ``localcluster.realnode.install``); how long the operator
    took to become Ready."""
    return {"seconds": timings["operator_install_to_ready_s"]}


@pytest.fixture(scope="session")
def gateway(real_cluster: RealCluster) -> str:
    """``host:port`` of the gateway's HTTP listener on this machine, as ``make real-up``
    writes it to ``gateway`` in the state dir (Gateway ``devenv-gateway/devenv``, listener
    ``http``; IngressClass ``traefik``). Hostnames resolve nowhere: send the Host header."""
    return gateway_address(real_cluster.cluster.state_dir)


@pytest.fixture
def host_path() -> Path:
    return STATE_DIR
