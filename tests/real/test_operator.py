"""The operator installed from deploy/ runs on the real node as deploy/ describes."""

from __future__ import annotations

from typing import Any

from tests.e2e.helpers import Kubectl, get, items
from tests.real.helpers import RealCluster


def operator_pod(kubectl: Kubectl) -> dict[str, Any]:
    pods = items(kubectl, "pods", "-n", "devenv-system",
                 "-l", "app.kubernetes.io/name=devenv-operator")
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    return running[0]


def test_the_operator_becomes_ready_through_its_real_probes(
    real_cluster: RealCluster, kubectl: Kubectl, installed: dict[str, float]
) -> None:
    pod = operator_pod(kubectl)
    assert pod["spec"]["nodeName"] == real_cluster.cluster.real_node
    container = pod["spec"]["containers"][0]
    assert container["image"] == "localcluster.local/devenv-operator:dev"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is True
    assert status["restartCount"] == 0
    # A real kubelet probed it: the metrics endpoint answers on the pod's own address.
    metrics = kubectl("exec", "-n", "devenv-system", pod["metadata"]["name"], "--",
                      "python3", "-c", "import urllib.request as u; print(u.urlopen("
                      "'http://127.0.0.1:8080/readyz', timeout=3).status)").stdout
    assert metrics.strip() == "200"


def test_the_operator_runs_as_non_root_on_a_read_only_root(
    real_cluster: RealCluster, kubectl: Kubectl, installed: dict[str, float]
) -> None:
    name = operator_pod(kubectl)["metadata"]["name"]
    probe = (
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n"
        "    open('/opt/venv/written', 'w')\n"
        "    print('writable')\n"
        "except OSError as e:\n"
        "    print('errno', e.errno)\n"
        "open('/tmp/scratch', 'w').write('ok')\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    )
    out = kubectl("exec", "-n", "devenv-system", name, "--", "python3", "-c", probe).stdout
    uid_line, root_line, caps = out.split("\n")[:3]
    assert uid_line == "65532 65532"
    assert root_line == "errno 30"  # EROFS: the root filesystem is read-only
    assert int(caps, 16) == 0  # every capability dropped


def test_the_operator_uses_its_service_account_in_cluster(
    real_cluster: RealCluster, kubectl: Kubectl, installed: dict[str, float]
) -> None:
    pod = operator_pod(kubectl)
    assert pod["spec"]["serviceAccountName"] == "devenv-operator"
    # It reached the apiserver through the `kubernetes` Service (kube-proxy, the node's
    # forwarder) with that account: its identity is visible to the API server.
    sa = get(kubectl, "serviceaccount", "devenv-operator", "-n", "devenv-system")
    assert sa is not None
    logs = kubectl("logs", "-n", "devenv-system", pod["metadata"]["name"]).stdout
    assert logs.strip(), "the operator logged nothing (kubectl logs through the kubelet)"
    assert "Forbidden" not in logs, logs[-2000:]
    assert "Unauthorized" not in logs, logs[-2000:]
