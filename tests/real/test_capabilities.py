"""What the workload hardening means for images that start as root, on real containers.

With every capability dropped (a class that adds none back), root in a container can no
longer chown files to another user or bind a port below 1024, as the entrypoints of many
images do (postgres, redis, nginx). The shipped default class gives back what Pod Security
baseline allows (the runtime's defaults without NET_RAW) and runs the same image unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    apply,
    delete_env,
    get,
    manifest,
    unique,
    wait_for,
    wait_ready,
)
from tests.real.helpers import RealCluster, http_get

ROOT_IMAGE = "localcluster.local/busybox-root:1"
CLASS = "real-no-capabilities"
# chown to another user needs CAP_CHOWN; port 80 needs CAP_NET_BIND_SERVICE.
# (Written before the chown: once /tmp/w is another user's, root without CAP_DAC_OVERRIDE
# cannot write into it, a third capability such images often need.)
SCRIPT = ("mkdir -p /tmp/w && echo served > /tmp/w/i && chown -R 65534:65534 /tmp/w && "
          "exec httpd -f -p 80 -h /tmp/w")


def root_service() -> dict[str, Any]:
    return {"name": "web", "image": ROOT_IMAGE, "command": ["sh", "-c", SCRIPT],
            "ports": [{"name": "http", "port": 80}],
            "readinessProbe": {"httpGet": {"path": "/i", "port": 80}, "periodSeconds": 1}}


@pytest.fixture(scope="module")
def bare_class(installed: dict[str, float], kubectl: Kubectl) -> Iterator[str]:
    """Every capability dropped and none given back."""
    apply(kubectl, {
        "apiVersion": "shipit.dev/v1alpha1", "kind": "DevEnvironmentClass",
        "metadata": {"name": CLASS},
        "spec": {"podSecurity": "baseline", "workloadSecurity": {}}})
    yield CLASS
    kubectl("delete", "devenvironmentclass", CLASS, "--ignore-not-found", "--wait=false")


def test_a_root_image_fails_without_capabilities_and_runs_under_the_default_class(
    bare_class: str, kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    hardened, given_back = unique("root-bare"), unique("root-default")
    apply(kubectl, [manifest(hardened, className=bare_class, services=[root_service()]),
                    manifest(given_back, services=[root_service()])])
    try:
        def failed() -> dict[str, Any] | None:
            found = get(kubectl, "devenvironment", hardened) or {}
            for svc in (found.get("status") or {}).get("services") or []:
                if svc.get("restarts", 0) >= 1:
                    return dict(svc)
            return None

        web = wait_for(failed, 90, interval=1, what=f"{hardened}: web restarted")
        assert web["lastExitCode"] == 1

        def refused() -> str:
            # The current or the previous run of the container, whichever has finished.
            for which in ("--previous=true", "--previous=false"):
                out = kubectl("logs", "-n", f"dev-{hardened}", "deploy/web", which,
                              check=False).stdout
                if "Operation not permitted" in out:
                    return out
            return ""

        assert "chown" in wait_for(refused, 30, interval=1, what="chown refused in the logs")

        ready = wait_ready(kubectl, given_back, timeout=90)
        assert ready["status"]["phase"] == "Ready"
        svc = get(kubectl, "service", "web", "-n", f"dev-{given_back}") or {}
        assert http_get(f"http://{svc['spec']['clusterIP']}/i").strip() == "served"
        pod_caps = kubectl("get", "pods", "-n", f"dev-{given_back}", "-o",
                           "jsonpath={.items[0].spec.containers[0].securityContext.capabilities}"
                           ).stdout
        assert '"drop":["ALL"]' in pod_caps.replace(" ", "")
        assert "NET_BIND_SERVICE" in pod_caps
        assert "CHOWN" in pod_caps
        assert "NET_RAW" not in pod_caps
    finally:
        delete_env(kubectl, hardened)
        delete_env(kubectl, given_back)
