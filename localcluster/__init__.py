"""A real local Kubernetes control plane for development and end-to-end tests.

kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kwok (simulated nodes
and pods) are built from pinned Go modules (``localcluster/tools``), cached per version,
and run on 127.0.0.1 under a detached supervisor; every cluster serves the Gateway API CRDs
(standard channel, see ``localcluster.gatewayapi``). Typical use::

    cluster = localcluster.up(state_dir=Path(".localcluster/test"), port_base=16443,
                              owner_pid=os.getpid())
    ...  # use cluster.kubeconfig
    localcluster.down(cluster.state_dir)

See ``python -m localcluster --help`` for the command line.
"""

from .builder import build
from .cluster import Cluster, down, restart_components, status, stop_components, up
from .config import (
    DEFAULT_NODES,
    DEFAULT_PORT_BASE,
    DEFAULT_QPS,
    LocalClusterError,
    Ports,
    Settings,
    default_state_dir,
)
from .stages import UNPULLABLE_PREFIX

__all__ = [
    "DEFAULT_NODES",
    "DEFAULT_PORT_BASE",
    "DEFAULT_QPS",
    "UNPULLABLE_PREFIX",
    "Cluster",
    "LocalClusterError",
    "Ports",
    "Settings",
    "build",
    "default_state_dir",
    "down",
    "restart_components",
    "status",
    "stop_components",
    "up",
]
