"""What the real-node tests share: where the cluster lives, containerd as seen from the
host, HTTP from the host (directly and through the gateway), the NetworkPolicy enforcer,
and figures for the summary."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import localcluster
from localcluster import procs
from localcluster.components import Layout
from localcluster.realnode import netpol, realup
from localcluster.realnode import node as realnode
from localcluster.realnode.config import NodeLayout
from localcluster.realnode.gateway import STATE_FILE as GATEWAY_STATE_FILE

STATE_DIR = realup.state_dir()
PORT_BASE = realup.port_base()
# Figures printed at the end of the run (pytest_terminal_summary).
timings: dict[str, Any] = {}


@dataclass
class RealCluster:
    cluster: localcluster.Cluster
    stopped: bool = False

    @property
    def node(self) -> NodeLayout:
        return NodeLayout(STATE_DIR / "node")

    def ctr(self, *args: str) -> str:
        cmd = ["ctr", f"--address={self.node.containerd_socket}", "-n", "k8s.io", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True,
                              timeout=60).stdout

    def containers_of(self, namespace: str) -> list[str]:
        """containerd containers (pod sandboxes included) of pods in ``namespace``."""
        out = self.ctr("containers", "ls", "-q",
                       f"labels.\"io.kubernetes.pod.namespace\"=={namespace}")
        return out.split()

    def leftovers(self) -> dict[str, list[str]]:
        return realnode.leftovers(Layout(STATE_DIR))

    def enforcer_pid(self) -> int | None:
        """kube-router's pid when the supervisor runs it and it is alive (not the launcher
        still waiting for the node: the process must have become kube-router)."""
        entries = json.loads(Layout(STATE_DIR).pids.read_text())
        for entry in entries:
            if entry.get("name") != netpol.COMPONENT:
                continue
            proc = procs.ProcId.from_json(entry)
            try:
                exe = Path(f"/proc/{proc.pid}/exe").resolve().name
            except OSError:
                return None
            return proc.pid if procs.alive(proc) and exe == netpol.BINARY else None
        return None

    def stop_enforcer(self) -> None:
        """Take the enforcer away as if the node had none: stop kube-router and remove the
        rules and ipsets it leaves (it fails closed when it merely exits)."""
        localcluster.stop_components(STATE_DIR, [netpol.COMPONENT])
        netpol.remove_state()

    def start_enforcer(self) -> float:
        """Start kube-router again; seconds until its chains are in place."""
        start = time.monotonic()
        localcluster.restart_components(STATE_DIR, [netpol.COMPONENT])
        netpol.wait_enforcing()
        return time.monotonic() - start


def gateway_address(state_dir: Path) -> str:
    """The gateway listener's ``host:port`` that ``make real-up`` wrote in the state dir."""
    return (state_dir / GATEWAY_STATE_FILE).read_text().strip()


def via_gateway(address: str, host: str, path: str = "/",
                timeout: float = 3.0) -> tuple[int, str]:
    """GET ``http://<address><path>`` with ``Host: host``; the status and the body."""
    req = urllib.request.Request(f"http://{address}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), str(resp.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code), str(e.read().decode(errors="replace"))


def http_get(url: str, timeout: float = 3.0, patience: float = 30.0) -> str:
    """GET from the host (through kube-proxy for a ClusterIP); '' when it does not answer
    within ``patience`` seconds. An environment is Ready as soon as its pods are, and
    kube-proxy programs the Service's rules a moment after the endpoints change: a client
    that asks right away may find nothing there yet, as on any cluster."""
    deadline = time.monotonic() + patience
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() >= deadline:
                return ""
            time.sleep(0.5)
