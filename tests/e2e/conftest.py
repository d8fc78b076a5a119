"""End-to-end fixtures: a real local control plane (see the ``localcluster`` package).

``cluster`` (session) brings up a cluster in ``<root>/.localcluster/test`` on port base
16443 owned by this pytest process (it stops itself if pytest dies, even on SIGKILL) and
tears it down at the end; ``E2E_STATE_DIR`` and ``E2E_PORT_BASE`` choose others, and with
``E2E_REUSE_CLUSTER=1`` the cluster already running there is used and left running.
``kubectl`` runs the venv's real kubectl against it.

Whatever a test creates (DevEnvironments, namespaces, nodes, secrets) is deleted after it,
pass or fail; see ``leftovers``. Tests import what they share from ``helpers``, not from here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import localcluster
from tests.e2e import leftovers
from tests.e2e.helpers import (
    PORT_BASE,
    REUSE_CLUSTER,
    ROOT,
    STATE_DIR,
    Kubectl,
    Operator,
    apply,
    run_kubectl,
    unique,
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) binaries before any test runs, outside per-test timeouts."""
    if any(item.get_closest_marker("e2e") for item in session.items):
        localcluster.build()


@pytest.fixture(scope="session")
def cluster() -> Iterator[localcluster.Cluster]:
    if REUSE_CLUSTER:
        state = localcluster.status(STATE_DIR)
        if state["state"] != "running":
            pytest.fail(f"E2E_REUSE_CLUSTER: no running cluster in {STATE_DIR}: {state}")
        yield localcluster.up(state_dir=STATE_DIR, port_base=PORT_BASE)
        return
    # A cluster started here belongs to this pytest (it stops itself when pytest exits, even
    # if start-up fails half-way); one that was already running is reused and left alone.
    c = localcluster.up(state_dir=STATE_DIR, port_base=PORT_BASE, owner_pid=os.getpid())
    try:
        yield c
    finally:
        if c.started:
            localcluster.down(STATE_DIR)


@pytest.fixture(scope="session")
def kubectl(cluster: localcluster.Cluster) -> Kubectl:
    def _kubectl(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(cluster.kubeconfig, *args, input=input, check=check)

    return _kubectl


@pytest.fixture(scope="module", autouse=True)
def module_leaves_no_devenvironments(kubectl: Kubectl) -> Iterator[None]:
    """Backstop for module-scoped fixtures: a DevEnvironment one made is gone at the end.

    (They clean up after themselves, but not if their setup fails half-way.) Only
    DevEnvironments: a module may deliberately leave, say, an installation behind.
    """
    kinds = [leftovers.DEVENV]
    before = leftovers.snapshot(kubectl, kinds)
    yield
    leftovers.settle(kubectl)  # what this module's tests left, deleted after each
    after = leftovers.snapshot(kubectl, kinds)
    leftovers.remove(kubectl, leftovers.leftovers(before, after), kinds)


@pytest.fixture(autouse=True)
def nothing_left_behind(kubectl: Kubectl) -> Iterator[None]:
    """Delete what the test created, even if it failed; the module's end waits until it
    is gone (``leftovers.settle``).

    Set up after every module- and session-scoped fixture (pytest sets up higher scopes
    first), so what those made is theirs to keep; torn down after the test's other
    function-scoped fixtures.
    """
    before = leftovers.snapshot(kubectl)
    yield
    after = leftovers.snapshot(kubectl)
    leftovers.remove_later(kubectl, leftovers.leftovers(before, after))


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/devenvironments.shipit.dev",
            "crd/devenvironmentclasses.shipit.dev", "crd/devenvironmenttemplates.shipit.dev",
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
    """DevEnvironment names a test creates; whatever is left is deleted afterwards.

    (``nothing_left_behind`` then waits until they are gone, and deletes whatever
    else the test made, listed here or not.)
    """
    created: list[str] = []
    yield created
    for name in created:
        kubectl("delete", "devenvironment", name, "--ignore-not-found", "--wait=false")


@pytest.fixture
def make_class(kubectl: Kubectl) -> Iterator[Any]:
    """make_class(**spec) creates a DevEnvironmentClass with a unique name and returns the
    name; the classes are deleted after the test."""
    made: list[str] = []

    def make(**spec: Any) -> str:
        name = unique("cls")
        apply(kubectl, {"apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
                        "metadata": {"name": name}, "spec": spec})
        made.append(name)
        return name
    yield make
    for name in made:
        kubectl("delete", "devenvironmentclass", name, "--ignore-not-found")
