"""The real node's part in a cluster's life: prepare, components, start, drain, clean.

``cluster.up`` with ``real_node`` calls :func:`prepare` before the supervisor starts (host
packages, node binaries, configuration, the bridge), appends :func:`component_specs` to
the supervisor's plan (containerd, the apiserver forwarder, kubelet, kube-proxy, and
kube-router's NetworkPolicy firewall: see :mod:`.netpol`), and calls :func:`after_start`
once everything runs (images imported, the ``kubernetes`` Service given its endpoint, the
node Ready, NetworkPolicy enforced). ``cluster.down`` calls :func:`drain` while the node still
runs and :func:`clean` after the supervisor has stopped it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import Api, ApiError
from ..components import ComponentSpec, Layout
from ..config import LocalClusterError, Settings
from . import host, images, netpol
from .build import build_node
from .config import (
    GATEWAY,
    NODE_NAME,
    NodeLayout,
    NodePorts,
    cni_conflist,
    containerd_argv,
    containerd_toml,
    json_text,
    kubelet_argv,
    kubelet_config,
    proxy_argv,
    proxy_config,
)

__all__ = ["NODE_NAME", "NodeBins", "NodePorts", "after_start", "clean", "component_specs", "drain",
           "leftovers", "node_layout", "prepare"]

NODE_READY_TIMEOUT_S = 180.0
DRAIN_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class NodeBins:
    """Where the node's binaries are: kubelet and kube-proxy; kube-router."""

    node: Path
    netpol: Path


def node_layout(layout: Layout) -> NodeLayout:
    return NodeLayout(layout.root / "node")


def prepare(s: Settings, layout: Layout) -> NodeBins:
    """Everything the node needs before its daemons start; return its binaries' dirs."""
    host.require_root("a real node")
    host.install_packages(layout.log("packages"))
    bins = NodeBins(build_node(), netpol.build_netpol())
    nl = node_layout(layout)
    ports = NodePorts.from_base(s.port_base)
    for d in (nl.containerd_root, nl.containerd_state, nl.cni_conf_dir, nl.cni_ipam_dir,
              nl.kubelet_root):
        d.mkdir(parents=True, exist_ok=True)
    nl.containerd_config.write_text(containerd_toml(nl, ports))
    (nl.cni_conf_dir / "10-localcluster.conflist").write_text(json_text(cni_conflist(nl)))
    nl.kubelet_config.write_text(json_text(kubelet_config(nl, ports, layout.pki.ca_crt)))
    nl.proxy_config.write_text(json_text(proxy_config(layout.kubeconfig, ports)))
    host.prepare_network()
    return bins


def component_specs(bins: NodeBins, s: Settings, layout: Layout) -> list[ComponentSpec]:
    bin_dir = bins.node
    nl = node_layout(layout)
    ports = NodePorts.from_base(s.port_base)
    forward = [sys.executable, "-m", "localcluster.realnode.forward",
               f"{GATEWAY}:{s.ports.apiserver}", f"127.0.0.1:{s.ports.apiserver}"]
    return [
        ComponentSpec("containerd", containerd_argv(nl),
                      f"http://127.0.0.1:{ports.containerd_metrics}/v1/metrics"),
        ComponentSpec("apiserver-forward", forward),
        ComponentSpec("kubelet", kubelet_argv(bin_dir, nl, layout.kubeconfig),
                      f"http://127.0.0.1:{ports.kubelet_healthz}/healthz"),
        ComponentSpec("kube-proxy", proxy_argv(bin_dir, nl),
                      f"http://127.0.0.1:{ports.proxy_metrics}/metrics"),
        ComponentSpec(netpol.COMPONENT, netpol.launcher_argv(
            bins.netpol, layout.kubeconfig, f"https://127.0.0.1:{s.ports.apiserver}",
            layout.pki.dir)),
    ]


def kubernetes_endpoints(apiserver_port: int) -> dict[str, Any]:
    """The ``kubernetes`` Service's endpoint: the forwarder on the node's address."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes",
                       "endpointslice.kubernetes.io/managed-by": "localcluster"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": apiserver_port, "protocol": "TCP"}],
    }


def _say(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def after_start(api: Api, s: Settings, layout: Layout) -> None:
    start = time.monotonic()
    archives = images.small_images() + images.archives_built()
    images.import_images(node_layout(layout).containerd_socket, archives)
    _say(f"imported {len(archives)} images into the node's containerd in "
         f"{time.monotonic() - start:.0f}s")
    body = kubernetes_endpoints(s.ports.apiserver)
    try:
        api.json("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", body)
    except ApiError as e:
        if e.status != 409:
            raise
    deadline = time.monotonic() + NODE_READY_TIMEOUT_S
    next_note = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, text = api.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if code == 200 and '"type":"Ready","status":"True"' in text.replace(" ", ""):
            _say(f"real node {NODE_NAME} Ready after {time.monotonic() - start:.0f}s")
            _wait_enforcing(layout)
            return
        if time.monotonic() >= next_note:
            _say(f"waiting for the real node {NODE_NAME} to become Ready "
                 f"({time.monotonic() - start:.0f}s; log {layout.log('kubelet')})")
            next_note += 10
        time.sleep(1)
    raise LocalClusterError(
        f"real node {NODE_NAME} not Ready after {NODE_READY_TIMEOUT_S:.0f}s; "
        f"see {layout.log('kubelet')} and {layout.log('containerd')}"
    )


def _wait_enforcing(layout: Layout) -> None:
    try:
        took = netpol.wait_enforcing()
    except LocalClusterError as e:
        raise LocalClusterError(f"{e}; see {layout.log(netpol.COMPONENT)}") from e
    _say(f"NetworkPolicy enforced on {NODE_NAME} by kube-router {netpol.version()} "
         f"({took:.0f}s after Ready)")


def drain(api: Api, layout: Layout) -> None:
    """Cordon the node, delete its pods and wait until kubelet has stopped them; then remove
    whatever containerd still holds (while it runs)."""
    with contextlib.suppress(ApiError, OSError):
        api.request("PATCH", f"/api/v1/nodes/{NODE_NAME}", {"spec": {"unschedulable": True}},
                    content_type="application/merge-patch+json")
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            code, text = api.request(
                "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE_NAME}")
        except OSError:
            break
        if code != 200:
            break
        pods = json.loads(text)["items"]
        if not pods:
            break
        for pod in pods:
            meta = pod["metadata"]
            if not meta.get("deletionTimestamp"):
                api.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/"
                            f"{meta['name']}", {"gracePeriodSeconds": 2})
        time.sleep(1)
    sock = node_layout(layout).containerd_socket
    if sock.exists():
        ctr = ["ctr", f"--address={sock}", "-n", "k8s.io"]
        for cid in host.run([*ctr, "tasks", "ls", "-q"], check=False).stdout.split():
            host.run([*ctr, "tasks", "kill", "-s", "SIGKILL", cid], check=False)
            host.run([*ctr, "tasks", "delete", "-f", cid], check=False)
        for cid in host.run([*ctr, "containers", "ls", "-q"], check=False).stdout.split():
            host.run([*ctr, "containers", "delete", cid], check=False)


def clean(layout: Layout) -> None:
    nl = node_layout(layout)
    if not nl.root.exists():
        return
    proxy = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        plan = json.loads(layout.plan.read_text())
        argv = next(c["argv"] for c in plan["components"] if c["name"] == "kube-proxy")
        proxy = Path(argv[0])
    netpol.remove_state()  # its chains first, then its ipsets (which they reference)
    host.clean(nl, proxy)


def leftovers(layout: Layout) -> dict[str, list[str]]:
    return {**host.leftovers(node_layout(layout)), "ipsets": netpol.ipsets()}
