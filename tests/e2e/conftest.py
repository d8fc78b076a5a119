"""End-to-end fixtures: a real local control plane (see the ``localcluster`` package).

``cluster`` (session) brings up a cluster in ``<root>/.localcluster/test`` on port base
16443 owned by this pytest process (it stops itself if pytest dies, even on SIGKILL) and
tears it down at the end. ``kubectl`` runs the venv's real kubectl against it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

import localcluster
from localcluster.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
# Overridable so that several test runs (e.g. parallel developers) can share a machine.
STATE_DIR = Path(os.environ.get("E2E_STATE_DIR", str(ROOT / ".localcluster" / "test")))
PORT_BASE = int(os.environ.get("E2E_PORT_BASE", "16443"))


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


# -- the operator, run as users run it: a separate process on the cluster's kubeconfig ----

OPERATOR_SETTINGS = {
    # Short periods so drift repair and rechecks show within a test's patience.
    "DEVENV_RESYNC_INTERVAL": "20s",
    "DEVENV_PROVISIONING_RECHECK": "2s",
    "DEVENV_EXPIRY_WARNING": "5s",
}


class Operator(OperatorProcess):
    """The devenv-operator process under test: one log file per run, test-friendly periods."""

    def __init__(self, kubeconfig: Path, log_dir: Path) -> None:
        super().__init__(kubeconfig, OPERATOR_SETTINGS)
        self.log_dir = log_dir
        self.runs = 0

    @property
    def metrics_port(self) -> int:
        return self.port

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.runs}.log"

    def start(self, **settings: str) -> None:
        self.runs += 1
        try:
            self.launch(self.log_path, settings, timeout=30)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{self.logs()[-4000:]}") from exc

    @contextlib.contextmanager
    def settings_applied(self, **settings: str) -> Iterator[None]:
        """Run with other settings, then with the defaults again.

        SIGKILL rather than a graceful stop: a restart costs seconds less, and all the
        operator needs survives a crash anyway (tested on its own).
        """
        self.stop(kill=True)
        self.start(**settings)
        try:
            yield
        finally:
            self.stop(kill=True)
            self.start()

    def restart(self, **settings: str) -> None:
        self.stop()
        self.start(**settings)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob("operator-*.log")))

    def metrics(self) -> str:
        return self.get("/metrics", timeout=5)


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
