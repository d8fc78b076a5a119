"""One DevEnvironment of three services, run by the in-cluster operator on real pods.

db becomes ready only after a real start-up delay (its readiness file appears after
DB_DELAY_S seconds); api depends on db and serves what reached its environment from a
generated Secret and a seeded ConfigMap; web is independent and is killed once. The
environment uses the default DevEnvironmentClass from deploy/classes/ (baseline Pod
Security, quota, limit range) and the operator's workload hardening.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    apply,
    delete_env,
    get,
    items,
    manifest,
    unique,
    wait_for,
    wait_ready,
)
from tests.real.helpers import RealCluster, http_get, timings

IMAGE = "localcluster.local/busybox:1"
DB_DELAY_S = 6
SERVE = "exec httpd -f -p 8080 -h /tmp/www"


def service(name: str, script: str, probe: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", f"mkdir -p /tmp/www; {script}"],
            "ports": [{"name": "http", "port": 8080}], "readinessProbe": probe, **extra}


def http_probe(path: str) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": 8080}, "periodSeconds": 1}


def spec() -> dict[str, Any]:
    return {
        "config": {
            "configMaps": [{"name": "settings",
                            "data": {"GREETING": "hello from a seeded ConfigMap"}}],
            "secrets": [{"name": "api-token", "generate": {"keys": ["token"]}}],
        },
        "services": [
            service("db", f"sleep {DB_DELAY_S}; date +%s > /tmp/www/ready-at; "
                          f"touch /tmp/ready; {SERVE}",
                    {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}),
            service("api", "date +%s > /tmp/www/started; echo \"token=$TOKEN\" > /tmp/www/env.txt; "
                           f"echo \"greeting=$GREETING\" >> /tmp/www/env.txt; {SERVE}",
                    http_probe("/env.txt"),
                    dependsOn=["db"],
                    env=[{"name": "TOKEN", "valueFrom": {
                        "secretKeyRef": {"name": "api-token", "key": "token"}}}],
                    envFrom=[{"configMapRef": {"name": "settings"}}]),
            service("web", f"echo web > /tmp/www/index.html; {SERVE}", http_probe("/index.html")),
        ],
    }


@pytest.fixture(scope="module")
def env(installed: dict[str, float], kubectl: Kubectl,
        real_cluster: RealCluster) -> Iterator[dict[str, Any]]:
    """The environment, applied and observed until Ready (timings recorded)."""
    name = unique("real")
    ns = f"dev-{name}"
    start = time.monotonic()
    apply(kubectl, manifest(name, **spec()))
    # While db's readiness file is missing: db runs but is not ready, api is not created.
    def db_running() -> dict[str, Any] | None:
        pods = items(kubectl, "pods", "-n", ns, "-l", "app.kubernetes.io/name=db")
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return running[0] if running else None
    db_pod = wait_for(db_running, 90, what="db's container to start")
    seen_before_ready = {
        "db_ready": db_pod["status"]["containerStatuses"][0]["ready"],
        "api_deployment": get(kubectl, "deployment", "api", "-n", ns),
        "phase": (get(kubectl, "devenvironment", name) or {}).get("status", {}).get("phase"),
    }
    ready = wait_ready(kubectl, name, timeout=180)
    timings["apply_to_ready_3_services_s"] = round(time.monotonic() - start, 1)
    yield {"name": name, "ns": ns, "ready": ready, "before": seen_before_ready}
    delete_env(kubectl, name, wait=True)


def cluster_ip(kubectl: Kubectl, ns: str, svc: str) -> str:
    found = get(kubectl, "service", svc, "-n", ns)
    assert found is not None, f"service {svc} in {ns}"
    return str(found["spec"]["clusterIP"])


def test_readiness_gates_dependents_with_real_start_up_delays(
    env: dict[str, Any], kubectl: Kubectl
) -> None:
    before = env["before"]
    assert before["db_ready"] is False
    assert before["api_deployment"] is None, "api was created before db was ready"
    assert before["phase"] != "Ready"
    db_ip, api_ip = cluster_ip(kubectl, env["ns"], "db"), cluster_ip(kubectl, env["ns"], "api")
    ready_at = int(http_get(f"http://{db_ip}:8080/ready-at"))
    started = int(http_get(f"http://{api_ip}:8080/started"))
    assert started >= ready_at, "api's container started before db was ready"
    assert timings["apply_to_ready_3_services_s"] >= DB_DELAY_S


def test_a_generated_secret_and_a_seeded_configmap_reach_the_container(
    env: dict[str, Any], kubectl: Kubectl
) -> None:
    secret = get(kubectl, "secret", "api-token", "-n", env["ns"])
    assert secret is not None
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) >= 8
    # Read back through the api Service's ClusterIP from the host: kube-proxy routes it.
    served = http_get(f"http://{cluster_ip(kubectl, env['ns'], 'api')}:8080/env.txt")
    assert served.splitlines() == [f"token={token}", "greeting=hello from a seeded ConfigMap"]


def test_a_service_routes_to_its_pod_from_another_pod(
    env: dict[str, Any], kubectl: Kubectl
) -> None:
    db_ip = cluster_ip(kubectl, env["ns"], "db")
    out = kubectl("exec", "-n", env["ns"], "deploy/web", "--", "sh", "-c",
                  f"printf 'GET /ready-at HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {db_ip} 8080").stdout
    assert out.startswith("HTTP/1."), out
    assert " 200 " in out.splitlines()[0], out


# The capabilities Pod Security baseline allows, by their numbers in linux/capability.h:
# CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6, SETUID 7, SETPCAP 8,
# NET_BIND_SERVICE 10, SYS_CHROOT 18, MKNOD 27, AUDIT_WRITE 29, SETFCAP 31.
BASELINE_MASK = sum(1 << n for n in (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 27, 29, 31))


def test_hardened_pods_run_on_a_real_node(env: dict[str, Any], kubectl: Kubectl) -> None:
    # Under the default class from deploy/classes/: its Pod Security level, quota and limits.
    namespace = get(kubectl, "namespace", env["ns"]) or {}
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert items(kubectl, "resourcequotas", "-n", env["ns"])
    assert items(kubectl, "limitranges", "-n", env["ns"])
    for pod in items(kubectl, "pods", "-n", env["ns"]):
        spec_ = pod["spec"]
        assert spec_["automountServiceAccountToken"] is False
        assert spec_["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        ctx = spec_["containers"][0]["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert pod["status"]["containerStatuses"][0]["ready"] is True
    # The kernel enforces it: only baseline's capabilities can ever be held (the bounding
    # set; NET_RAW not among them), a seccomp filter, no new privileges, no token.
    status = kubectl("exec", "-n", env["ns"], "deploy/api", "--",
                     "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert int(fields["CapBnd"].strip(), 16) == BASELINE_MASK
    assert int(fields["CapEff"].strip(), 16) & ~BASELINE_MASK == 0
    assert not int(fields["CapBnd"].strip(), 16) & (1 << 13)  # CAP_NET_RAW
    assert fields["Seccomp"].strip() == "2"
    assert fields["NoNewPrivs"].strip() == "1"
    token = kubectl("exec", "-n", env["ns"], "deploy/api", "--", "ls",
                    "/var/run/secrets/kubernetes.io/serviceaccount", check=False)
    assert token.returncode != 0


def test_a_killed_container_restart_shows_in_status(
    env: dict[str, Any], kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    pods = items(kubectl, "pods", "-n", env["ns"], "-l", "app.kubernetes.io/name=web")
    assert len(pods) == 1
    container_id = pods[0]["status"]["containerStatuses"][0]["containerID"].split("://")[1]
    real_cluster.ctr("tasks", "kill", "-s", "SIGKILL", container_id)

    def restarted() -> dict[str, Any] | None:
        found = get(kubectl, "devenvironment", env["name"]) or {}
        for svc in (found.get("status") or {}).get("services") or []:
            if svc["name"] == "web" and svc.get("restarts", 0) >= 1:
                return dict(svc)
        return None

    web = wait_for(restarted, 90, interval=1, what="status.services[web].restarts >= 1")
    assert web["restarts"] == 1
    assert web["lastExitCode"] == 137
    assert web["lastTerminationReason"] == "Error"
    wait_ready(kubectl, env["name"], timeout=90)


def test_deleting_the_environment_stops_its_containers(
    env: dict[str, Any], kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    ns = env["ns"]
    assert real_cluster.containers_of(ns), "no containers seen for the environment"
    delete_env(kubectl, env["name"], wait=True)
    wait_for(lambda: get(kubectl, "namespace", ns) is None, 120, interval=1,
             what=f"namespace {ns} to be gone")

    def running() -> list[str]:
        ids = set(real_cluster.containers_of(ns))
        tasks = real_cluster.ctr("tasks", "ls").splitlines()[1:]
        return [t.split()[0] for t in tasks if t.split()[0] in ids and "RUNNING" in t]

    wait_for(lambda: not running(), 60, interval=1, what=f"no running container in {ns}")
