"""``up`` / ``down`` / ``status``: orchestrate one cluster living in a state dir.

``up`` prepares certificates, kubeconfigs and the kwok stages, launches the detached
supervisor (which runs the components), then registers the kwok nodes and waits until
they are schedulable and the ``default`` ServiceAccount exists. ``down`` stops the
supervisor, verifies that every process is gone and removes the state dir.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import pki as pkimod
from . import procs, stages
from .api import Api, ApiError
from .builder import build
from .components import Layout, component_specs
from .config import PROJECT_ROOT, LocalClusterError, Settings, read_pins, settings_from_env

MARKER = ".localcluster-state"
READY_TIMEOUT_S = 120.0
NODE_CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
NODE_PREFIX = "kwok-node-"
UNSCHEDULABLE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


@dataclass(frozen=True)
class Cluster:
    """A running local cluster."""

    state_dir: Path
    kubeconfig: Path
    server: str
    port_base: int
    nodes: tuple[str, ...]

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"


def _say(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def node_manifest(name: str, kube_version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
            },
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {},
        "status": {
            "capacity": dict(NODE_CAPACITY),
            "allocatable": dict(NODE_CAPACITY),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": kube_version,
            },
        },
    }


def node_schedulable(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t.get("key") in UNSCHEDULABLE_TAINTS for t in taints)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _supervisor(layout: Layout) -> procs.ProcId | None:
    data = _read_json(layout.supervisor_pid)
    return procs.ProcId.from_json(data) if isinstance(data, dict) else None


def _component_pids(layout: Layout) -> list[procs.ProcId]:
    data = _read_json(layout.pids)
    return [procs.ProcId.from_json(e) for e in data] if isinstance(data, list) else []


def _saved_cluster(layout: Layout) -> Cluster | None:
    data = _read_json(layout.root / "cluster.json")
    if not isinstance(data, dict):
        return None
    return Cluster(
        state_dir=layout.root,
        kubeconfig=layout.kubeconfig,
        server=data["server"],
        port_base=int(data["port_base"]),
        nodes=tuple(data["nodes"]),
    )


def _wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    _say(f"timed out after {timeout:.0f}s waiting for {what}")
    return False


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def status(state_dir: Path | None = None) -> dict[str, Any]:
    """Machine-readable status. ``state`` is one of: absent, running, degraded,
    unhealthy, starting, stopped, failed."""
    layout = Layout(settings_from_env(state_dir=state_dir).state_dir)
    sup = _supervisor(layout)
    st = _read_json(layout.status) or {}
    cluster = _saved_cluster(layout)
    result: dict[str, Any] = {"state_dir": str(layout.root), "state": "absent"}
    if sup is None or not procs.alive(sup):
        if layout.root.joinpath(MARKER).exists():
            result["state"] = "stopped" if st.get("state") != "failed" else "failed"
            result["message"] = st.get("message", "")
        return result
    result.update(state=st.get("state", "starting"), message=st.get("message", ""))
    result["supervisor_pid"] = sup.pid
    result["components"] = {
        e["name"]: procs.alive(procs.ProcId.from_json(e)) for e in _read_json(layout.pids) or []
    }
    if cluster is not None:
        result.update(server=cluster.server, kubeconfig=str(cluster.kubeconfig))
        if result["state"] == "running" and not Api(cluster.server, layout.pki).healthy():
            result["state"] = "unhealthy"
    return result


def _remove_state(root: Path) -> None:
    """Delete a state dir, but keep nested state dirs of other clusters (e.g. ``test/``)."""
    if not root.exists():
        return
    if not (root / MARKER).exists() and any(root.iterdir()):
        nested = [c for c in root.iterdir() if c.is_dir() and (c / MARKER).exists()]
        if not nested:
            raise LocalClusterError(f"{root} is not a localcluster state dir; not removing it")
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink() and (child / MARKER).exists():
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if not any(root.iterdir()):
        root.rmdir()


def down(state_dir: Path | None = None, timeout: float = 30.0) -> bool:
    """Stop the cluster in ``state_dir`` and remove its state. True if it was running."""
    layout = Layout(settings_from_env(state_dir=state_dir).state_dir)
    sup = _supervisor(layout)
    was_running = sup is not None and procs.alive(sup)
    if sup is not None and was_running:
        procs.signal_proc(sup, signal.SIGTERM)
        if procs.wait_gone([sup], timeout):
            _say(f"supervisor {sup.pid} did not stop in {timeout:.0f}s; killing it")
            procs.kill_all([sup], grace=0.0)
    left = procs.kill_all(_component_pids(layout), grace=3.0)
    if sup is not None:
        left += procs.wait_gone([sup], 5.0)
    if left:
        raise LocalClusterError(f"processes still running after down: {[p.pid for p in left]}")
    _remove_state(layout.root)
    return was_running


def _prepare(s: Settings, layout: Layout, bin_dir: Path) -> Cluster:
    pins = read_pins()
    server = f"https://127.0.0.1:{s.ports.apiserver}"
    layout.root.mkdir(parents=True, exist_ok=True)
    (layout.root / MARKER).write_text("state dir of a localcluster; removed by `down`\n")
    for d in (layout.logs, layout.config_dir, layout.etcd_data):
        d.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.chmod(0o700)
    pki = pkimod.generate(layout.pki.dir)
    pkimod.write_kubeconfig(layout.kubeconfig, server, pki, "admin")
    for name in ("controller-manager", "scheduler"):
        pkimod.write_kubeconfig(layout.component_kubeconfig(name), server, pki, name)
    layout.stages.write_text(stages.render(pins.kubernetes, pins.kwok))
    owner = None
    if s.owner_pid is not None:
        ident = procs.identify(s.owner_pid)
        if ident is None:
            raise LocalClusterError(f"owner pid {s.owner_pid} is not running")
        owner = ident.to_json()
    plan = {
        "components": [
            {"name": c.name, "argv": c.argv, "ready_url": c.ready_url}
            for c in component_specs(bin_dir, s, layout)
        ],
        "owner": owner,
        "pki_dir": str(layout.pki.dir),
        "ready_timeout": READY_TIMEOUT_S,
    }
    layout.plan.write_text(json.dumps(plan, indent=2) + "\n")
    nodes = tuple(f"{NODE_PREFIX}{i}" for i in range(s.nodes))
    info = {"server": server, "port_base": s.port_base, "nodes": list(nodes), "qps": s.qps}
    (layout.root / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")
    return Cluster(layout.root, layout.kubeconfig, server, s.port_base, nodes)


def _launch_supervisor(layout: Layout) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    with layout.log("supervisor").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localcluster.supervisor", str(layout.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
        )
        # The direct child forks the real supervisor and exits right away.
        if proc.wait(30) != 0:
            msg = f"supervisor failed to start:\n{tail(layout.log('supervisor'))}"
            raise LocalClusterError(msg)


def _fail(layout: Layout, message: str, log_name: str) -> LocalClusterError:
    _say(f"{message}; last lines of {layout.log(log_name)}:\n{tail(layout.log(log_name))}")
    try:
        sup = _supervisor(layout)
        if sup is not None:
            procs.kill_all([sup], grace=15.0)
        procs.kill_all(_component_pids(layout))
    except OSError:
        pass
    return LocalClusterError(f"{message} (logs kept in {layout.logs})")


def _wait_supervisor(layout: Layout) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S * 2 + 30
    shown = ""
    while time.monotonic() < deadline:
        st = _read_json(layout.status) or {}
        state, msg = st.get("state"), st.get("message", "")
        if state == "running":
            return
        if state in ("failed", "stopped"):
            name = next((n for n in ("etcd", "kube-apiserver") if n in msg), "supervisor")
            raise _fail(layout, f"control plane failed to start: {msg}", name)
        if msg and msg != shown:
            _say(msg)
            shown = msg
        sup = _supervisor(layout)
        if sup is not None and not procs.alive(sup):
            raise _fail(layout, "supervisor exited during start", "supervisor")
        time.sleep(0.2)
    raise _fail(layout, "control plane did not start in time", "kube-apiserver")


def _healthy_existing(layout: Layout) -> Cluster | None:
    sup = _supervisor(layout)
    cluster = _saved_cluster(layout)
    st = _read_json(layout.status) or {}
    if sup is None or cluster is None or not procs.alive(sup) or st.get("state") != "running":
        return None
    return cluster if Api(cluster.server, layout.pki).healthy() else None


def up(
    state_dir: Path | None = None,
    nodes: int | None = None,
    port_base: int | None = None,
    qps: int | None = None,
    owner_pid: int | None = None,
) -> Cluster:
    """Bring up (or reuse) the cluster in ``state_dir``; return it once nodes are Ready."""
    s = settings_from_env(state_dir, nodes, port_base, qps, owner_pid)
    layout = Layout(s.state_dir)
    existing = _healthy_existing(layout)
    if existing is not None:
        _say(f"cluster in {layout.root} is already up ({existing.server})")
        return existing
    if (layout.root / MARKER).exists():
        _say(f"cleaning stale state in {layout.root}")
        down(layout.root)
    busy = {n: p for n, p in s.ports.all().items() if port_in_use(p)}
    if busy:
        raise LocalClusterError(
            f"ports in use: {busy}; is another cluster running? choose another --port-base"
        )
    bin_dir = build()
    start = time.monotonic()
    cluster = _prepare(s, layout, bin_dir)
    _launch_supervisor(layout)
    _wait_supervisor(layout)
    _say(f"control plane up in {time.monotonic() - start:.1f}s; registering {s.nodes} nodes")
    api = Api(cluster.server, layout.pki)
    kube_version = read_pins().kubernetes
    for name in cluster.nodes:
        try:
            api.json("POST", "/api/v1/nodes", node_manifest(name, kube_version))
        except ApiError as e:
            if e.status != 409:
                raise _fail(layout, f"registering node {name} failed: {e}", "kube-apiserver") from e

    def nodes_ready() -> bool:
        items = api.json("GET", "/api/v1/nodes")["items"]
        ready = {n["metadata"]["name"] for n in items if node_schedulable(n)}
        return set(cluster.nodes) <= ready

    if not _wait("nodes to become Ready", nodes_ready, READY_TIMEOUT_S):
        raise _fail(layout, "kwok nodes did not become Ready", "kwok")
    _say(f"{s.nodes} nodes Ready after {time.monotonic() - start:.1f}s")

    def default_sa() -> bool:
        code, _ = api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return code == 200

    if not _wait("the default ServiceAccount", default_sa, READY_TIMEOUT_S):
        raise _fail(layout, "default ServiceAccount was not created", "kube-controller-manager")
    _say(f"cluster ready in {time.monotonic() - start:.1f}s: {cluster.server}")
    return cluster
