"""Runs last (file order): stopping the cluster leaves nothing of the node on the host.

Not on a cluster the session reused (``make real-up``'s): that one is left running.
"""

from __future__ import annotations

import pytest

import localcluster
from tests.e2e.helpers import Kubectl
from tests.real.helpers import STATE_DIR, RealCluster, http_get


def test_down_leaves_no_container_mount_link_or_cgroup(
    real_cluster: RealCluster, kubectl: Kubectl, installed: dict[str, float]
) -> None:
    if not real_cluster.cluster.started:
        pytest.skip("the cluster was already running (make real-up) and is left running; "
                    "make real-down stops it")
    # Something is running on the node right now (the operator, and a pod made here).
    kubectl("run", "leftover", "--image=localcluster.local/busybox:1",
            "--image-pull-policy=Never", "--restart=Never", "--",
            "sh", "-c", "mkdir -p /tmp/w; echo up > /tmp/w/i; exec httpd -f -p 8080 -h /tmp/w")
    kubectl("wait", "pod/leftover", "--for=condition=Ready", "--timeout=60s")
    ip = kubectl("get", "pod", "leftover", "-o", "jsonpath={.status.podIP}").stdout
    assert http_get(f"http://{ip}:8080/i").strip() == "up"
    assert real_cluster.ctr("tasks", "ls", "-q").split(), "no running task before down"
    before = real_cluster.leftovers()
    assert before["links"]
    assert before["cgroups"]
    assert before["mounts"]
    assert before["ipsets"], "kube-router (NetworkPolicy) made no ipset for the operator's policy"

    assert localcluster.down(STATE_DIR)
    real_cluster.stopped = True
    left = real_cluster.leftovers()
    assert left == {"shims": [], "mounts": [], "cgroups": [], "links": [], "netns": [],
                    "iptables": [], "files": [], "ipsets": []}
    assert not STATE_DIR.exists()
