"""``make real-up`` / ``make real-down``: the real-node cluster, ready to use by hand.

:func:`real_up` builds what it needs (control-plane and node binaries, the operator image,
the lookalike images), brings up the cluster with its real node in ``REAL_STATE_DIR``
(default ``<project>/.localcluster/real``; its kubeconfig is ``kubeconfig`` there) on
``REAL_PORT_BASE`` (default 26443), imports the images, installs the operator from
deploy/ with its classes, and runs the gateway (Traefik built here, see :mod:`.gateway`),
writing its listener's ``host:port`` to ``gateway`` in the state dir. A cluster already
running there is reused (images rebuilt and re-imported when they changed, the operator
rolled to a new image): ``make test-real`` calls the same function and leaves a cluster it
did not start running.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..builder import build
from ..cluster import Cluster, down, up
from ..config import PROJECT_ROOT
from . import gateway, images, install, traefik
from .config import (
    GATEWAY_BASE_DOMAIN,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_SECTION,
    INGRESS_CLASS,
    NODE_NAME,
    NodeLayout,
    NodePorts,
)
from .host import require_root
from .lookalikes import LOOKALIKES, OPERATOR_ALIASES

ENV_STATE_DIR = "REAL_STATE_DIR"
ENV_PORT_BASE = "REAL_PORT_BASE"
DEFAULT_PORT_BASE = 26443


def state_dir() -> Path:
    return Path(os.environ.get(ENV_STATE_DIR, str(PROJECT_ROOT / ".localcluster" / "real")))


def port_base() -> int:
    return int(os.environ.get(ENV_PORT_BASE, str(DEFAULT_PORT_BASE)))


@dataclass
class RealUp:
    cluster: Cluster
    figures: dict[str, Any] = field(default_factory=dict)


def real_up(owner_pid: int | None = None) -> RealUp:
    """Build, start (or reuse) and install; figures say how long each part took."""
    require_root("the real-node cluster")
    start = time.monotonic()
    build()
    log = images.images_dir() / "build.log"
    gateway_start = time.monotonic()
    traefik_bin = traefik.build_traefik()
    gateway_image = {"traefik_build_s": round(time.monotonic() - gateway_start, 1)}
    archives, image_stats = images.build_images(log)
    gateway_archive, built = gateway.build_image(
        traefik_bin, traefik.version(), images.images_dir(), log)
    gateway_image.update(built)
    archives.append(gateway_archive)
    figures: dict[str, Any] = {"images": image_stats, "gateway_image": gateway_image}
    up_start = time.monotonic()
    c = up(state_dir=state_dir(), port_base=port_base(), owner_pid=owner_pid, real_node=True)
    figures["cluster_up_s"] = round(time.monotonic() - up_start, 1)
    figures["reused"] = not c.started
    if not c.started:
        # Started earlier: what was rebuilt since goes in now (unchanged archives are skipped).
        images.import_images(NodeLayout(c.state_dir / "node").containerd_socket, archives)
    # The gateway's pod starts while the operator is installed; it is waited for after.
    gateway_port = NodePorts.from_base(c.port_base).gateway_http
    apply_start = time.monotonic()
    gateway.apply(c.kubeconfig, traefik.version(), gateway_port)
    figures["gateway_apply_s"] = round(time.monotonic() - apply_start, 1)
    figures["operator_install_to_ready_s"] = install.install(
        c.kubeconfig, install.operator_image_id(images.images_dir()))
    figures["gateway_ready_s"] = gateway.wait_ready(c.kubeconfig, c.state_dir, gateway_port)
    figures["setup_s"] = round(time.monotonic() - start, 1)
    return RealUp(c, figures)


def how_to(c: Cluster) -> str:
    names = [n for x in LOOKALIKES for n in x.names] + list(OPERATOR_ALIASES)
    addr = gateway.address(NodePorts.from_base(c.port_base).gateway_http)
    return (
        f"Real-node cluster up at {c.server}: node {NODE_NAME} (containerd + kubelet on this "
        "machine), the operator Ready in devenv-system, the default class installed.\n"
        f"  export KUBECONFIG={c.kubeconfig}\n"
        "  kubectl apply -f examples/stack.yaml\n"
        "  kubectl get devenv -w\n"
        "  kubectl get pods -n dev-shop -o wide\n"
        f"gateway: Gateway {GATEWAY_NAMESPACE}/{GATEWAY_NAME} (listener {GATEWAY_SECTION}), "
        f"IngressClass {INGRESS_CLASS}, on the host at {addr} (also in {c.state_dir / 'gateway'});"
        f" hostnames under {GATEWAY_BASE_DOMAIN} resolve nowhere: send the Host header\n"
        f"  curl -H 'Host: SERVICE-ENV.{GATEWAY_BASE_DOMAIN}' http://{addr}/\n"
        f"images on the node (built here, never pulled): {', '.join(names)}\n"
        f"logs:  {c.logs_dir}\n"
        "stop:  make real-down (it also cleans what the node changed on the host)\n"
    )


def real_down() -> str:
    root = state_dir()
    return (f"real-node cluster in {root} stopped; host cleaned" if down(root)
            else f"no real-node cluster is running in {root}; nothing to stop")
