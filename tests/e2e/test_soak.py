"""Soak and chaos (``make soak``; not part of ``make test``): the operator killed mid-burst,
the apiserver and etcd restarted mid-burst, hundreds of create/delete cycles, a thousand
idle connections to its port. Each prints its figures for the closing notes.
"""

from __future__ import annotations

import json
import random
import resource
import socket
import time
from pathlib import Path

import pytest

import localcluster
from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    get,
    items,
    manifest,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.soak, pytest.mark.timeout(3600)]

BURST = 50
ROUNDS = 5
CYCLES = 500
READY_BOUND = 300.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def create_burst(kubectl: Kubectl, prefix: str, count: int) -> list[str]:
    names = [unique(prefix) for _ in range(count)]
    apply(kubectl, [manifest(n, services=[{"name": "web", "image": "nginx:1.27"}])
                    for n in names])
    return names


def ready_names(kubectl: Kubectl, prefix: str) -> set[str]:
    return {e["metadata"]["name"] for e in items(kubectl, "devenvironments")
            if e["metadata"]["name"].startswith(prefix)
            and (e.get("status") or {}).get("phase") == "Ready"}


def wait_ready(kubectl: Kubectl, prefix: str, names: list[str],
               timeout: float = READY_BOUND) -> float:
    started = time.monotonic()
    wait_for(lambda: ready_names(kubectl, prefix) >= set(names), timeout, interval=1,
             what=f"{len(names)} environments Ready")
    return time.monotonic() - started


def check_children(kubectl: Kubectl, names: list[str]) -> None:
    """One namespace per environment, and in it exactly the children the spec asks for."""
    namespaces = items(kubectl, "namespaces", "-l",
                       "app.kubernetes.io/managed-by=devenv-operator")
    per_env: dict[str, int] = {}
    for ns in namespaces:
        env = ns["metadata"]["labels"].get("shipit.dev/environment", "")
        per_env[env] = per_env.get(env, 0) + 1
    for name in names:
        assert per_env.get(name) == 1, (name, per_env.get(name))
    deployments = items(kubectl, "deployments", "-A", "-l",
                        "app.kubernetes.io/managed-by=devenv-operator")
    by_ns: dict[str, list[str]] = {}
    for d in deployments:
        by_ns.setdefault(d["metadata"]["namespace"], []).append(d["metadata"]["name"])
    for name in names:
        assert by_ns.get(f"dev-{name}") == ["web"], (name, by_ns.get(f"dev-{name}"))


def delete_all(kubectl: Kubectl, prefix: str, timeout: float = READY_BOUND) -> float:
    started = time.monotonic()
    names = [e["metadata"]["name"] for e in items(kubectl, "devenvironments")
             if e["metadata"]["name"].startswith(prefix)]
    if names:
        kubectl("delete", "devenvironments", *names, "--wait=false")

    def gone() -> bool:
        left = [e for e in items(kubectl, "devenvironments")
                if e["metadata"]["name"].startswith(prefix)]
        spaces = [n for n in items(kubectl, "namespaces", "-l",
                                   "app.kubernetes.io/managed-by=devenv-operator")
                  if n["metadata"]["labels"].get("shipit.dev/environment", "").startswith(
                      prefix)]
        return not left and not spaces
    wait_for(gone, timeout, interval=2, what=f"{prefix}* and their namespaces gone")
    return time.monotonic() - started


@pytest.fixture
def soak_operator(running_operator: Operator) -> Operator:
    """The operator with room for many connections (it inherits our file limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))
    running_operator.stop(kill=True)
    running_operator.start()
    return running_operator


def test_operator_killed_mid_burst_converges_every_round(
        kubectl: Kubectl, soak_operator: Operator) -> None:
    rng = random.Random(7)  # a reproducible schedule
    for round_no in range(1, ROUNDS + 1):
        prefix = f"chaos{round_no}-"
        names = create_burst(kubectl, prefix.rstrip("-"), BURST)
        delay = rng.uniform(0.2, 6.0)
        time.sleep(delay)
        soak_operator.stop(kill=True)
        soak_operator.start()
        took = wait_ready(kubectl, prefix, names)
        check_children(kubectl, names)
        cleanup = delete_all(kubectl, prefix)
        print(f"\nchaos round {round_no}: kill -9 after {delay:.1f}s; {BURST} Ready "
              f"{took:.1f}s after the restart; one namespace each; deleted in {cleanup:.1f}s")


def test_apiserver_and_etcd_restarted_mid_burst_converge_within_60s(
        kubectl: Kubectl, soak_operator: Operator, cluster: localcluster.Cluster) -> None:
    prefix = "restart-"
    names = create_burst(kubectl, "restart", BURST)
    time.sleep(1.0)
    started = time.monotonic()
    localcluster.restart_components(cluster.state_dir, ["etcd", "kube-apiserver"])
    back = time.monotonic()
    took = wait_ready(kubectl, prefix, names, timeout=60)
    check_children(kubectl, names)
    cleanup = delete_all(kubectl, prefix)
    print(f"\napiserver+etcd restart: back after {back - started:.1f}s; {BURST} Ready "
          f"{took:.1f}s after their return; deleted in {cleanup:.1f}s")


def test_churn_leaks_no_namespace_or_finalizer_and_memory_returns(
        kubectl: Kubectl, soak_operator: Operator) -> None:
    time.sleep(5)
    start_rss = rss_mb(soak_operator.pid)
    batches = CYCLES // BURST
    peak = start_rss
    for batch in range(batches):
        prefix = f"churn{batch}-"
        names = create_burst(kubectl, prefix.rstrip("-"), BURST)
        wait_ready(kubectl, prefix, names)
        peak = max(peak, rss_mb(soak_operator.pid))
        delete_all(kubectl, prefix)
    assert not [e for e in items(kubectl, "devenvironments")
                if e["metadata"]["name"].startswith("churn")]
    leaked = [n["metadata"]["name"] for n in items(
        kubectl, "namespaces", "-l", "app.kubernetes.io/managed-by=devenv-operator")
        if n["metadata"]["labels"].get("shipit.dev/environment", "").startswith("churn")]
    assert leaked == []
    time.sleep(70)  # idle for a minute, the operator gives freed heap back
    end_rss = rss_mb(soak_operator.pid)
    print(f"\nchurn: {batches * BURST} create/delete cycles; 0 leaked namespaces or "
          f"finalizers; RSS start {start_rss:.1f} MB, peak {peak:.1f} MB, "
          f"end {end_rss:.1f} MB")
    assert end_rss <= start_rss + 20, (start_rss, end_rss)


def test_a_thousand_idle_connections_starve_neither_health_nor_work(
        kubectl: Kubectl, soak_operator: Operator, names: list[str]) -> None:
    idle = [socket.create_connection(("127.0.0.1", soak_operator.port)) for _ in range(1000)]
    try:
        started = time.monotonic()
        health = json.loads(soak_operator.get("/healthz", timeout=5))
        answered = time.monotonic() - started
        assert health == {"ok": True}
        assert answered < 1.0, answered
        name = unique("idle")
        names.append(name)
        created = time.monotonic()
        apply(kubectl, manifest(name))
        wait_for(lambda: ((get(kubectl, "devenvironment", name) or {}).get("status") or {})
                 .get("phase") == "Ready", 60, what="Ready under 1,000 idle connections")
        print(f"\n1,000 idle connections: /healthz in {answered * 1000:.0f} ms; a new "
              f"environment Ready in {time.monotonic() - created:.1f}s")
    finally:
        for conn in idle:
            conn.close()
