"""The real-node tier (``make test-real``): a local control plane with one real node
(containerd + runc + kubelet + kube-proxy on this machine), the operator image built from
the Dockerfile and installed in-cluster from ``deploy/``, and real pods.

Needs root (packages, containerd, the host's network and cgroups); without it every test
fails with that reason rather than being skipped. ``REAL_STATE_DIR`` (default
``<root>/.localcluster/real``) and ``REAL_PORT_BASE`` (default 26443) place the cluster.
Only one real node can run on a machine at a time (it owns the ``lcnode0`` bridge and the
``kubepods`` cgroups). ``make test`` never collects this directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import localcluster
from localcluster.realnode import images
from localcluster.realnode.config import OPERATOR_IMAGE
from tests.e2e.helpers import ROOT, Kubectl, manifest, run_kubectl, wait_for
from tests.real.helpers import PORT_BASE, STATE_DIR, RealCluster, timings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real: needs root and a real node (make test-real)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.real)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if timings:
        terminalreporter.write_line("real-node figures: " + json.dumps(timings))


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[RealCluster]:
    if os.geteuid() != 0:
        pytest.fail("the real-node tier needs root: it installs Debian packages, runs "
                    "containerd and kubelet and changes the host's network and cgroups")
    start = time.monotonic()
    localcluster.build()
    _, stats = images.build_operator_image(images.images_dir() / "build.log")
    timings["operator_image"] = stats
    up_start = time.monotonic()
    c = localcluster.up(state_dir=STATE_DIR, port_base=PORT_BASE, owner_pid=os.getpid(),
                        real_node=True)
    timings["cluster_up_s"] = round(time.monotonic() - up_start, 1)
    timings["setup_s"] = round(time.monotonic() - start, 1)
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


OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {deploy}
images:
  - name: ghcr.io/shipit-dev/devenv-operator
    newName: {name}
    newTag: {tag}
patches:
  - target: {{kind: Deployment, name: devenv-operator}}
    patch: |
      - op: replace
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: Never
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {{name: DEVENV_PROVISIONING_RECHECK, value: 2s}}
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {{name: DEVENV_RESYNC_INTERVAL, value: 20s}}
"""


@pytest.fixture(scope="session")
def installed(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """deploy/ (then deploy/classes/) applied as docs/install.md says, with the image built
    here; returns how long the operator took to become Ready."""
    overlay = tmp_path_factory.mktemp("install")
    name, tag = OPERATOR_IMAGE.rsplit(":", 1)
    (overlay / "kustomization.yaml").write_text(
        OVERLAY.format(deploy=os.path.relpath(ROOT / "deploy", overlay), name=name, tag=tag))
    start = time.monotonic()
    kubectl("apply", "--server-side", "-k", str(overlay))
    kubectl("wait", "--for=condition=Established", "--timeout=60s",
            "crd/devenvironments.shipit.dev", "crd/devenvironmentclasses.shipit.dev")
    kubectl("apply", "--server-side", "-k", str(ROOT / "deploy" / "classes"))
    kubectl("-n", "devenv-system", "rollout", "status", "deployment/devenv-operator",
            "--timeout=110s")
    # The admission policies fail closed until the API server has loaded the new kinds
    # ("Resource kind ... not found"): wait until a DevEnvironment is accepted.
    probe = json.dumps(manifest("admission-probe"))

    def accepted() -> bool:
        return kubectl("create", "--dry-run=server", "-f", "-", input=probe,
                       check=False).returncode == 0

    wait_for(accepted, 60, interval=1, what="the admission policies to accept DevEnvironments")
    took = round(time.monotonic() - start, 1)
    timings["operator_install_to_ready_s"] = took
    return {"seconds": took}


@pytest.fixture
def host_path() -> Path:
    return STATE_DIR
