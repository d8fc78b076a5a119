"""``up`` / ``down`` / ``status``: orchestrate one cluster living in a state dir.

``up`` prepares certificates, kubeconfigs and the kwok stages, launches the detached
supervisor (which runs the components), then registers the kwok nodes and waits until
they are schedulable and the ``default`` ServiceAccount exists. ``down`` stops the
supervisor, verifies that every process is gone and removes the state dir.

A cluster whose supervisor is alive belongs to whoever started it: ``up`` reuses it, or
waits (bounded, with progress) until it answers, or refuses with the reason; it never
stops it. Only ``down`` stops a live cluster. State left by a dead supervisor is stale and
``up`` cleans it before starting afresh (see :func:`assess`).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import gatewayapi, procs, stages
from . import pki as pkimod
from .api import Api, ApiError
from .builder import build
from .components import Layout, component_specs
from .config import PROJECT_ROOT, LocalClusterError, Settings, read_pins, settings_from_env
from .realnode import node as realnode

MARKER = ".localcluster-state"
READY_TIMEOUT_S = 120.0
# How long ``up`` waits for a cluster that is already running but not usable yet (starting,
# or its apiserver slow to answer under load) before giving up and leaving it alone.
EXISTING_WAIT_S = 120.0
# A loaded apiserver can take seconds to answer /readyz; a short probe mistook that for death.
PROBE_TIMEOUT_S = 10.0
PROGRESS_EVERY_S = 5.0
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
    # True only when the ``up`` call that returned this started it; False when it reused a
    # cluster that was already running (whoever started that one is the one to stop it).
    started: bool = False
    # The name of the real node (containerd + kubelet), if the cluster has one.
    real_node: str | None = None

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


def _proc_id(data: Any) -> procs.ProcId | None:
    # A damaged file must read as "no process", not end the command in a traceback.
    try:
        return procs.ProcId.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def _supervisor(layout: Layout) -> procs.ProcId | None:
    return _proc_id(_read_json(layout.supervisor_pid))


def _component_pids(layout: Layout) -> list[procs.ProcId]:
    data = _read_json(layout.pids)
    found = [_proc_id(e) for e in data] if isinstance(data, list) else []
    return [p for p in found if p is not None]


def _named_pids(layout: Layout) -> list[tuple[str, procs.ProcId]]:
    data = _read_json(layout.pids)
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    found = [(str(e.get("name", "")), _proc_id(e)) for e in entries]
    return [(n, p) for n, p in found if p is not None]


def _saved_cluster(layout: Layout) -> Cluster | None:
    data = _read_json(layout.root / "cluster.json")
    try:
        return Cluster(
            state_dir=layout.root,
            kubeconfig=layout.kubeconfig,
            server=data["server"],
            port_base=int(data["port_base"]),
            nodes=tuple(data["nodes"]),
            real_node=data.get("real_node"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _answers(cluster: Cluster, layout: Layout, timeout: float = 3.0) -> bool:
    """True if the apiserver answers /readyz with 200 within ``timeout`` seconds."""
    try:
        api = Api(cluster.server, layout.pki)
    except (OSError, ValueError):  # certificates missing or unreadable
        return False
    return api.healthy(timeout=timeout)


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
        if result["state"] == "running" and not _answers(cluster, layout):
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
    # Another ``down`` (say ``make run`` exiting while ``make cluster-down`` runs) may be
    # removing the same files: what is already gone is fine.
    with contextlib.suppress(FileNotFoundError):
        for child in list(root.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                if child.is_dir() and not child.is_symlink() and (child / MARKER).exists():
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        if not any(root.iterdir()):
            root.rmdir()


def _clean_stale(layout: Layout) -> None:
    """Remove the state of a cluster whose supervisor is gone (and any leftover component)."""
    sup = _supervisor(layout)
    if sup is not None and procs.alive(sup):
        raise LocalClusterError(f"supervisor {sup.pid} of {layout.root} is alive; not stale")
    left = procs.kill_all(_component_pids(layout), grace=3.0)
    if left:
        raise LocalClusterError(f"processes still running after down: {[p.pid for p in left]}")
    if realnode.node_layout(layout).root.exists():
        realnode.clean(layout)
    _remove_state(layout.root)


def down(state_dir: Path | None = None, timeout: float = 30.0) -> bool:
    """Stop the cluster in ``state_dir`` and remove its state. True if it was running.

    Nothing running and no state dir is not an error: there is nothing to do.
    """
    layout = Layout(settings_from_env(state_dir=state_dir).state_dir)
    sup = _supervisor(layout)
    was_running = sup is not None and procs.alive(sup)
    saved = _saved_cluster(layout)
    if was_running and saved is not None and saved.real_node:
        # While containerd and kubelet still run: stop the pods and their containers.
        with contextlib.suppress(OSError, ValueError):
            realnode.drain(Api(saved.server, layout.pki), layout)
    if sup is not None and was_running:
        procs.signal_proc(sup, signal.SIGTERM)
        if procs.wait_gone([sup], timeout):
            _say(f"supervisor {sup.pid} did not stop in {timeout:.0f}s; killing it")
            procs.kill_all([sup], grace=0.0)
        if procs.wait_gone([sup], 5.0):
            raise LocalClusterError(f"supervisor {sup.pid} of {layout.root} is still running")
    _clean_stale(layout)
    return was_running


def _prepare(s: Settings, layout: Layout, bin_dir: Path,
             node_bin: realnode.NodeBins | None) -> Cluster:
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
    specs = component_specs(bin_dir, s, layout)
    if node_bin is not None:
        specs += realnode.component_specs(node_bin, s, layout)
    plan = {
        "components": [{"name": c.name, "argv": c.argv, "ready_url": c.ready_url} for c in specs],
        "owner": owner,
        "pki_dir": str(layout.pki.dir),
        "ready_timeout": READY_TIMEOUT_S,
    }
    layout.plan.write_text(json.dumps(plan, indent=2) + "\n")
    nodes = tuple(f"{NODE_PREFIX}{i}" for i in range(s.nodes))
    node = realnode.NODE_NAME if s.real_node else None
    info = {"server": server, "port_base": s.port_base, "nodes": list(nodes), "qps": s.qps,
            "real_node": node}
    (layout.root / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")
    return Cluster(layout.root, layout.kubeconfig, server, s.port_base, nodes, started=True,
                   real_node=node)


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


class Verdict(enum.Enum):
    """What ``up`` does with what it finds in a state dir."""

    START = "start"  # nothing there: start a cluster
    CLEAN_STALE = "clean"  # state of a dead supervisor: remove it, then start
    REUSE = "reuse"  # running and answering: use it as it is
    WAIT = "wait"  # supervisor alive but not usable yet: wait, never tear it down
    REFUSE = "refuse"  # supervisor alive, and waiting will not make it usable


@dataclass(frozen=True)
class Seen:
    """One look at a state dir (``answering`` is only probed when it could be True)."""

    has_state: bool
    supervisor_alive: bool
    state: str | None = None
    message: str = ""
    has_info: bool = True
    answering: bool = False


def assess(seen: Seen) -> tuple[Verdict, str]:
    """Decide what ``up`` may do, and why. Pure.

    Only a dead supervisor (gone, or its pid now another process) makes state stale. While
    it is alive the cluster belongs to whoever started it, however unwell it looks.
    """
    if not seen.supervisor_alive:
        if seen.has_state:
            return Verdict.CLEAN_STALE, "its supervisor is not running"
        return Verdict.START, "no cluster there"
    detail = f" ({seen.message})" if seen.message else ""
    if not seen.has_info:
        return Verdict.REFUSE, "its cluster.json is missing or damaged"
    if seen.state == "running":
        if seen.answering:
            return Verdict.REUSE, "running"
        return Verdict.WAIT, "its apiserver does not answer /readyz yet (busy?)"
    if seen.state in (None, "starting"):
        return Verdict.WAIT, f"it is starting{detail}"
    if seen.state in ("stopped", "failed"):
        return Verdict.WAIT, f"its supervisor is shutting down{detail}"
    if seen.state == "degraded":
        return Verdict.REFUSE, f"a component has exited{detail}"
    return Verdict.REFUSE, f"its state is {seen.state!r}{detail}"


def _look(
    layout: Layout, probe_timeout: float
) -> tuple[Seen, procs.ProcId | None, Cluster | None]:
    sup = _supervisor(layout)
    alive = sup is not None and procs.alive(sup)
    if not alive:
        return Seen((layout.root / MARKER).exists(), False), sup, None
    st = _read_json(layout.status)
    st = st if isinstance(st, dict) else {}
    cluster = _saved_cluster(layout)
    state = st.get("state")
    answering = (
        state == "running" and cluster is not None and _answers(cluster, layout, probe_timeout)
    )
    seen = Seen(True, True, state, str(st.get("message", "")), cluster is not None, answering)
    return seen, sup, cluster


def _stop_hint(root: Path) -> str:
    return (
        f"stop it with `python -m localcluster down --state-dir {root}` "
        "(`make cluster-down` for the default state dir)"
    )


def _existing(layout: Layout, wait_timeout: float) -> Cluster | None:
    """The usable cluster already in ``layout``, else None once nothing (stale) is left.

    A live cluster that is not usable yet is waited for up to ``wait_timeout`` seconds;
    one that cannot become usable, or does not in time, raises and is left running.
    """
    start = time.monotonic()
    deadline = start + wait_timeout
    said, said_at = "", 0.0
    while True:
        # At most half the time left, so a silent apiserver still gets a second look and
        # the wait shows progress before it ends.
        remaining = deadline - time.monotonic()
        seen, sup, cluster = _look(layout, max(0.5, min(PROBE_TIMEOUT_S, remaining / 2)))
        verdict, why = assess(seen)
        if verdict is Verdict.START:
            return None
        if verdict is Verdict.CLEAN_STALE:
            _say(f"cleaning stale state in {layout.root} ({why})")
            _clean_stale(layout)
            return None
        if verdict is Verdict.REUSE and cluster is not None:
            return cluster
        owner = f"supervisor pid {sup.pid}" if sup is not None else "supervisor"
        if verdict is Verdict.REFUSE:
            raise LocalClusterError(
                f"cannot use the cluster in {layout.root}: {why}. It is still running "
                f"({owner}) and was left alone; {_stop_hint(layout.root)}"
            )
        now = time.monotonic()
        if now >= deadline:
            raise LocalClusterError(
                f"the cluster in {layout.root} is running ({owner}) but was not usable "
                f"after waiting {now - start:.0f}s: {why}. It was left alone: retry later, "
                f"or {_stop_hint(layout.root)}"
            )
        if why != said or now - said_at >= PROGRESS_EVERY_S:
            _say(
                f"waiting for the cluster already running in {layout.root} ({owner}): "
                f"{why} [{now - start:.0f}s of at most {wait_timeout:.0f}s]"
            )
            said, said_at = why, now
        time.sleep(min(0.5, max(0.0, deadline - now)))


def _install_gateway_api(api: Api, layout: Layout, reused: bool = False) -> None:
    """The Gateway API CRDs, in a new cluster and in a reused one (quick when present).

    A failure stops a cluster this call started, never one it reused."""
    try:
        gatewayapi.install(api)
    except (LocalClusterError, ApiError, OSError) as e:
        message = f"installing the Gateway API CRDs failed: {e}"
        if reused:
            raise LocalClusterError(message) from e
        raise _fail(layout, message, "kube-apiserver") from e


def up(
    state_dir: Path | None = None,
    nodes: int | None = None,
    port_base: int | None = None,
    qps: int | None = None,
    owner_pid: int | None = None,
    wait_timeout: float | None = None,
    real_node: bool | None = None,
) -> Cluster:
    """Bring up (or reuse) the cluster in ``state_dir``; return it once nodes are Ready.

    A cluster already running there is reused as it is (``started`` False; ``owner_pid``
    and the other settings do not apply to it). If it is not usable yet, wait up to
    ``wait_timeout`` seconds (default ``EXISTING_WAIT_S``); it is never stopped.
    """
    s = settings_from_env(state_dir, nodes, port_base, qps, owner_pid, real_node)
    layout = Layout(s.state_dir)
    wait = EXISTING_WAIT_S if wait_timeout is None else wait_timeout
    existing = _existing(layout, wait)
    if existing is not None:
        _say(f"cluster in {layout.root} is already up ({existing.server}); using it")
        _install_gateway_api(Api(existing.server, layout.pki), layout, reused=True)
        return replace(existing, started=False)
    ports = dict(s.ports.all())
    if s.real_node:
        ports.update(realnode.NodePorts.from_base(s.port_base).all())
    busy = {n: p for n, p in ports.items() if port_in_use(p)}
    if busy:
        raise LocalClusterError(
            f"ports in use: {busy}; is another cluster running? choose another --port-base"
        )
    bin_dir = build()
    gatewayapi.bundle_path()  # fetched (once per version) before anything starts
    start = time.monotonic()
    layout.root.mkdir(parents=True, exist_ok=True)
    (layout.root / MARKER).write_text("state dir of a localcluster; removed by `down`\n")
    layout.logs.mkdir(parents=True, exist_ok=True)
    node_bin = realnode.prepare(s, layout) if s.real_node else None
    cluster = _prepare(s, layout, bin_dir, node_bin)
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
    _install_gateway_api(api, layout)
    if s.real_node:
        try:
            realnode.after_start(api, s, layout)
        except (LocalClusterError, ApiError, OSError) as e:
            raise _fail(layout, f"real node did not start: {e}", "kubelet") from e
    _say(f"cluster ready in {time.monotonic() - start:.1f}s: {cluster.server}")
    return cluster


def stop_components(state_dir: Path, names: list[str], timeout: float = 30.0) -> None:
    """Stop some components of a running cluster and leave them stopped (the supervisor
    does not count them as exited); :func:`restart_components` starts them again."""
    layout = Layout(state_dir)
    supervisor = _supervisor(layout)
    if supervisor is None or not procs.alive(supervisor):
        raise LocalClusterError(f"no running cluster in {state_dir}")
    running = [p for p in _named_pids(layout) if p[0] in names]
    layout.restart.write_text(json.dumps({"stop": names}))
    os.kill(supervisor.pid, signal.SIGUSR1)
    if procs.wait_gone([p for _, p in running], timeout):
        raise LocalClusterError(f"{names} still running {timeout:.0f}s after the request")


def restart_components(state_dir: Path, names: list[str], timeout: float = 120.0) -> None:
    """Restart some components of a running cluster (e.g. etcd and kube-apiserver, for
    chaos tests) and wait until its apiserver answers again."""
    layout = Layout(state_dir)
    supervisor = _supervisor(layout)
    cluster = _saved_cluster(layout)
    if supervisor is None or cluster is None or not procs.alive(supervisor):
        raise LocalClusterError(f"no running cluster in {state_dir}")
    layout.restart.write_text(json.dumps(names))
    os.kill(supervisor.pid, signal.SIGUSR1)
    time.sleep(1.0)  # the supervisor polls four times a second
    if not _wait("the restarted apiserver", lambda: _answers(cluster, layout), timeout):
        raise LocalClusterError(f"apiserver did not come back within {timeout:.0f}s")
