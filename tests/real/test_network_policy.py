"""The class's isolation holds for packets: NetworkPolicy is enforced on the real node.

The enforcer is kube-router's firewall, run by the cluster as a host process
(``localcluster/realnode/netpol.py``). Two environments under the shipped default class
(``networkPolicy: isolated``) each run two busybox web servers; every connection is a real
TCP connection from a container (busybox ``nc``, 3 s connect timeout) to a ClusterIP or a
pod IP. The last test takes the enforcer away and shows the same connection going through,
so these tests fail on a node where nothing enforces the policy objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localcluster.realnode import netpol
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
from tests.real.helpers import RealCluster, timings

IMAGE = "localcluster.local/busybox:1"
PORT = 8080
CONNECT_TIMEOUT_S = 3
# A refused or dropped connection must end within the timeout (plus kubectl exec's start).
BLOCKED_WITHIN_S = CONNECT_TIMEOUT_S + 2.0
# After an environment is Ready, kube-proxy and the enforcer program its pods' rules within
# a moment (both react to the same pod and endpoint events).
SETTLE_S = 30
OWNER = "netpol-owner"
OPERATOR_NS = "devenv-system"


def web(name: str) -> dict[str, Any]:
    return {"name": name, "image": IMAGE,
            "command": ["sh", "-c", f"mkdir -p /tmp/www; echo {name} > /tmp/www/index.html; "
                                    f"exec httpd -f -p {PORT} -h /tmp/www"],
            "ports": [{"name": "http", "port": PORT}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": PORT},
                               "periodSeconds": 1}}


@dataclass(frozen=True)
class Env:
    name: str
    ns: str
    ready_at: float  # time.monotonic() when it was seen Ready

    def service_ip(self, kubectl: Kubectl, svc: str) -> str:
        found = get(kubectl, "service", svc, "-n", self.ns)
        assert found is not None, f"service {svc} in {self.ns}"
        return str(found["spec"]["clusterIP"])

    def pod_ip(self, kubectl: Kubectl, svc: str) -> str:
        pods = items(kubectl, "pods", "-n", self.ns, "-l", f"app.kubernetes.io/name={svc}")
        ips = [p["status"]["podIP"] for p in pods if p["status"].get("podIP")
               and not p["metadata"].get("deletionTimestamp")]
        assert ips, f"no pod IP for {svc} in {self.ns}"
        return str(ips[0])


@dataclass(frozen=True)
class Attempt:
    connected: bool
    seconds: float
    said: str


def connect(kubectl: Kubectl, ns: str, target: str, ip: str, port: int = PORT,
            path: str = "/index.html") -> Attempt:
    """One TCP connection and an HTTP GET from ``target`` (``deploy/web``, ``pod/x``)."""
    request = f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | nc -w {CONNECT_TIMEOUT_S} {ip} {port}"
    start = time.monotonic()
    out = kubectl("exec", "-n", ns, target, "--", "sh", "-c", request, check=False)
    took = time.monotonic() - start
    said = out.stdout.splitlines()[:1] or out.stderr.strip().splitlines()[:1] or [""]
    return Attempt(out.stdout.startswith("HTTP/1."), round(took, 2), said[0])


def reaches(kubectl: Kubectl, ns: str, ip: str, target: str = "deploy/web") -> Attempt:
    """Waits until the connection goes through (a Service is routed a moment after Ready)."""
    return wait_for(lambda: (a := connect(kubectl, ns, target, ip)).connected and a,
                    SETTLE_S, interval=0.5, what=f"{ns}/{target} to reach {ip}:{PORT}")


def blocked(kubectl: Kubectl, ns: str, ip: str, target: str = "deploy/web") -> Attempt:
    """Waits until the connection fails (the enforcer programs new pods within a moment),
    then checks it keeps failing and fails within the timeout."""
    first = wait_for(lambda: (a := connect(kubectl, ns, target, ip)) and not a.connected and a,
                     SETTLE_S, interval=0.5, what=f"{ns}/{target} to be kept from {ip}:{PORT}")
    again = connect(kubectl, ns, target, ip)
    assert not again.connected, f"{ns} reached {ip} again: {again}"
    assert again.seconds <= BLOCKED_WITHIN_S, again
    return first


@pytest.fixture(scope="module")
def enforcer(real_cluster: RealCluster) -> int:
    """kube-router runs on the node and its chains are in place: without it every
    isolation test below would fail on its first connection."""
    pid = real_cluster.enforcer_pid()
    assert pid is not None, "kube-router (the NetworkPolicy enforcer) is not running"
    assert netpol.enforcing(), "kube-router runs but FORWARD does not pass its chains"
    return pid


@pytest.fixture(scope="module")
def envs(installed: dict[str, float], kubectl: Kubectl,
         enforcer: int) -> Iterator[tuple[Env, Env]]:
    """Two environments (default class: isolated), each with web and api; B has an owner."""
    a, b = unique("npa"), unique("npb")
    apply(kubectl, manifest(a, services=[web("web"), web("api")]))
    apply(kubectl, manifest(b, owner=OWNER, services=[web("web"), web("api")]))
    try:
        start = time.monotonic()
        for name in (a, b):
            wait_ready(kubectl, name, timeout=180)
        ready_at = time.monotonic()
        timings["netpol_two_envs_ready_s"] = round(ready_at - start, 1)
        yield Env(a, f"dev-{a}", ready_at), Env(b, f"dev-{b}", ready_at)
    finally:
        for name in (a, b):
            delete_env(kubectl, name)


def test_an_environment_reaches_its_own_services_but_not_another_environments(
    envs: tuple[Env, Env], kubectl: Kubectl
) -> None:
    a, b = envs
    policy = get(kubectl, "networkpolicy", "devenv-isolation", "-n", b.ns) or {}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # Its own: through the api Service's ClusterIP (kube-proxy) and to the pod itself.
    reaches(kubectl, a.ns, a.service_ip(kubectl, "api"))
    reaches(kubectl, a.ns, a.pod_ip(kubectl, "api"))
    figures: dict[str, Any] = {}
    for src, dst in ((a, b), (b, a)):
        for kind, ip in (("service", dst.service_ip(kubectl, "web")),
                         ("pod", dst.pod_ip(kubectl, "web"))):
            attempt = blocked(kubectl, src.ns, ip)
            figures.setdefault("first_blocked_after_ready_s",
                               round(time.monotonic() - a.ready_at, 1))
            figures[f"{kind}_blocked_in_s"] = attempt.seconds
            figures[f"{kind}_said"] = attempt.said
    timings["netpol_cross_environment"] = figures
    # And the other way round still works inside B.
    reaches(kubectl, b.ns, b.service_ip(kubectl, "api"))


@pytest.fixture
def metrics_reader(kubectl: Kubectl) -> Iterator[str]:
    """A pod in a namespace labelled as deploy/networkpolicy.yaml says Prometheus's is."""
    ns = unique("np-metrics")
    kubectl("create", "namespace", ns)
    try:
        kubectl("label", "namespace", ns, "shipit.dev/metrics-access=true")
        kubectl("run", "reader", "-n", ns, f"--image={IMAGE}", "--image-pull-policy=Never",
                "--restart=Never", "--", "sleep", "3600")
        kubectl("wait", "-n", ns, "pod/reader", "--for=condition=Ready", "--timeout=60s")
        yield ns
    finally:
        kubectl("delete", "namespace", ns, "--wait=false")


def test_an_environment_cannot_reach_the_operators_metrics_port(
    envs: tuple[Env, Env], kubectl: Kubectl, metrics_reader: str
) -> None:
    a, _ = envs
    pods = items(kubectl, "pods", "-n", OPERATOR_NS, "-l", "app.kubernetes.io/name=devenv-operator")
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 1
    operator_ip = running[0]["status"]["podIP"]
    svc = get(kubectl, "service", "devenv-operator-metrics", "-n", OPERATOR_NS) or {}
    metrics_ip = svc["spec"]["clusterIP"]
    # The policy's allowed peer gets /metrics: the port is open, and the policy is what
    # keeps the environment out.
    allowed = wait_for(lambda: (x := connect(kubectl, metrics_reader, "pod/reader", metrics_ip,
                                             path="/metrics")).connected and x,
                       SETTLE_S, interval=0.5, what="the labelled namespace to read /metrics")
    assert " 200 " in allowed.said, allowed
    for ip in (metrics_ip, operator_ip):
        blocked(kubectl, a.ns, ip)
    # Kubelet's probes come from the node, which the policy does not restrict.
    ready = {c["type"]: c["status"] for c in running[0]["status"]["conditions"]}
    assert ready["Ready"] == "True"


ALLOW_ALL = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "allow-all"},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}}


def test_an_owners_allow_all_policy_does_not_open_the_environment(
    envs: tuple[Env, Env], kubectl: Kubectl
) -> None:
    """The owner of B adds a policy admitting everyone. NetworkPolicies add up, so only
    admission keeps B closed: the shipped ownerRole (devenv-owner) grants no NetworkPolicy
    writes, and even an owner a platform gave `edit` in the namespace is refused by
    devenv-tenant-guardrails. A is kept out all along."""
    a, b = envs
    target = b.service_ip(kubectl, "web")
    blocked(kubectl, a.ns, target)
    body = json.dumps({**ALLOW_ALL, "metadata": {**ALLOW_ALL["metadata"], "namespace": b.ns}})
    grant = json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "owner-edit", "namespace": b.ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": OWNER}]})
    try:
        as_owner = kubectl(f"--as={OWNER}", "apply", "-f", "-", input=body, check=False)
        assert as_owner.returncode != 0
        assert "forbidden" in as_owner.stderr.lower(), as_owner.stderr
        kubectl("apply", "-f", "-", input=grant)  # a platform's wider ownerRole
        with_edit = kubectl(f"--as={OWNER}", "apply", "-f", "-", input=body, check=False)
        assert with_edit.returncode != 0
        assert "devenv-tenant-guardrails" in with_edit.stderr, with_edit.stderr
        assert get(kubectl, "networkpolicy", "allow-all", "-n", b.ns) is None
        blocked(kubectl, a.ns, target)
    finally:
        kubectl("delete", "networkpolicy", "allow-all", "-n", b.ns, "--ignore-not-found")
        kubectl("delete", "rolebinding", "owner-edit", "-n", b.ns, "--ignore-not-found")


def test_without_the_enforcer_the_isolation_is_only_objects(
    envs: tuple[Env, Env], kubectl: Kubectl, real_cluster: RealCluster
) -> None:
    """The negative control: the same connection goes through once the enforcer is taken
    away (the policy objects unchanged), and is kept out again once it is back."""
    a, b = envs
    target = b.pod_ip(kubectl, "web")
    blocked(kubectl, a.ns, target)
    real_cluster.stop_enforcer()
    try:
        assert real_cluster.enforcer_pid() is None
        assert get(kubectl, "networkpolicy", "devenv-isolation", "-n", b.ns) is not None
        through = reaches(kubectl, a.ns, target)
        assert " 200 " in through.said, through
    finally:
        back_in = real_cluster.start_enforcer()
    start = time.monotonic()
    blocked(kubectl, a.ns, target)
    timings["netpol_restart"] = {"chains_in_s": round(back_in, 1),
                                 "blocked_again_in_s": round(time.monotonic() - start, 1)}
    assert real_cluster.enforcer_pid() is not None
