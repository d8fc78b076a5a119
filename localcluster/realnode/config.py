"""The real node's layout, addresses, ports and configuration files. Pure: no processes.

A real node is containerd + runc + a CNI bridge + kubelet + kube-proxy on this machine,
registered with the local control plane. Its pods live on a bridge (``BRIDGE``) with no
route out and no masquerading: a pod's routes reach only the pod subnet and the service
range, and the host routes the service range to the bridge too, so a ClusterIP that
kube-proxy has not (yet) programmed goes nowhere instead of out of the machine.

The bridge's address (``GATEWAY``) is the node's InternalIP: kubelet serves there (the
apiserver reaches it for logs and exec), and a forwarder there passes pods' connections
to the apiserver, which itself listens only on 127.0.0.1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import CLUSTER_DOMAIN, SERVICE_CIDR

NODE_NAME = "real-node"
BRIDGE = "lcnode0"
NODE_SUBNET = "10.88.0.0/24"
GATEWAY = "10.88.0.1"
CNI_NETWORK = "localcluster"
# Images made here, never pulled: the registry host is a name no registry answers to.
IMAGE_DOMAIN = "localcluster.local"
PAUSE_IMAGE = f"{IMAGE_DOMAIN}/pause:1"
TEST_IMAGE = f"{IMAGE_DOMAIN}/busybox:1"
ROOT_TEST_IMAGE = f"{IMAGE_DOMAIN}/busybox-root:1"
OPERATOR_IMAGE = f"{IMAGE_DOMAIN}/devenv-operator:dev"
# The gateway of the real-node cluster (Traefik, see .gateway): where it runs, the Gateway
# and listener the installed default class exposes environments through, and its domain.
GATEWAY_NAMESPACE = "devenv-gateway"
GATEWAY_NAME = "devenv"
GATEWAY_SECTION = "http"
GATEWAY_BASE_DOMAIN = "devenv.localtest"
# The IngressClass of the same Traefik (its Ingress provider), for classes in Ingress mode.
INGRESS_CLASS = "traefik"
# Offsets from the cluster's port base; the control plane uses base .. base+5.
KUBELET_PORT_OFFSET = 10
# The gateway's HTTP listener on the host's loopback (a hostPort of the gateway's pod).
GATEWAY_HTTP_PORT_OFFSET = 20


@dataclass(frozen=True)
class NodePorts:
    """TCP ports of the node's daemons (kubelet on GATEWAY, the rest on 127.0.0.1) and of
    the gateway's HTTP listener (127.0.0.1, mapped to the gateway pod)."""

    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    containerd_metrics: int
    gateway_http: int

    @classmethod
    def from_base(cls, base: int) -> NodePorts:
        first = base + KUBELET_PORT_OFFSET
        return cls(first, first + 1, first + 2, first + 3, first + 4,
                   base + GATEWAY_HTTP_PORT_OFFSET)

    def all(self) -> dict[str, int]:
        return {
            "kubelet": self.kubelet,
            "kubelet (healthz)": self.kubelet_healthz,
            "kube-proxy (healthz)": self.proxy_healthz,
            "kube-proxy (metrics)": self.proxy_metrics,
            "containerd (metrics)": self.containerd_metrics,
            "gateway (http)": self.gateway_http,
        }


@dataclass(frozen=True)
class NodeLayout:
    """Where the node's files live inside a cluster's state dir (``<state>/node``)."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"


def containerd_toml(layout: NodeLayout, ports: NodePorts) -> str:
    """containerd's config: private root, state and socket; the CRI plugin on our bridge.

    ``restrict_oom_score_adj``: these VMs answer EIO to a negative oom_score_adj, and without
    it every sandbox fails in runc ("can't get final child's PID from pipe").
    """
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join([
        "version = 2",
        f'root = "{layout.containerd_root}"',
        f'state = "{layout.containerd_state}"',
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        "[ttrpc]",
        f'  address = "{layout.containerd_socket}.ttrpc"',
        "[metrics]",
        f'  address = "127.0.0.1:{ports.containerd_metrics}"',
        f"[{cri}]",
        f'  sandbox_image = "{PAUSE_IMAGE}"',
        "  restrict_oom_score_adj = true",
        "  enable_selinux = false",
        f"[{cri}.cni]",
        '  bin_dir = "/usr/lib/cni"',
        f'  conf_dir = "{layout.cni_conf_dir}"',
        "  max_conf_num = 1",
        f"[{cri}.containerd]",
        '  default_runtime_name = "runc"',
        f"[{cri}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"[{cri}.containerd.runtimes.runc.options]",
        "  SystemdCgroup = false",
        "",
    ])


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    """A bridge with the gateway address, no default route and no masquerading."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam_dir),
                    "ranges": [[{"subnet": NODE_SUBNET, "gateway": GATEWAY}]],
                    # The pod subnet is on-link; the service range goes through the host
                    # (kube-proxy). Nothing else is routable from a pod.
                    "routes": [{"dst": SERVICE_CIDR}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(layout: NodeLayout, ports: NodePorts, client_ca: Path) -> dict[str, Any]:
    """KubeletConfiguration for cgroup v1 with the cgroupfs driver, measured on these VMs."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": GATEWAY,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.kubelet_healthz,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "podCIDR": NODE_SUBNET,
        "resolvConf": "",
        "serializeImagePulls": False,
        "volumePluginDir": str(layout.kubelet_root / "volume-plugins"),
        # A test machine's disk may be fuller than the defaults tolerate; never evict here.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "protectKernelDefaults": False,
        "shutdownGracePeriod": "0s",
        "nodeStatusReportFrequency": "10s",
    }


def proxy_config(kubeconfig: Path, ports: NodePorts) -> dict[str, Any]:
    """kube-proxy in iptables mode, leaving the host's conntrack sysctls alone."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": NODE_SUBNET,
        "hostnameOverride": NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
        "nodePortAddresses": [f"{GATEWAY}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def containerd_argv(layout: NodeLayout) -> list[str]:
    return ["containerd", f"--config={layout.containerd_config}"]


def kubelet_argv(bin_dir: Path, layout: NodeLayout, kubeconfig: Path) -> list[str]:
    return [
        str(bin_dir / "kubelet"),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.kubelet_root / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={GATEWAY}",
        "--node-labels=localcluster.dev/real-node=true",
        "--v=1",
    ]


def proxy_argv(bin_dir: Path, layout: NodeLayout) -> list[str]:
    return [str(bin_dir / "kube-proxy"), f"--config={layout.proxy_config}", "--v=1"]


def json_text(obj: Any) -> str:
    """YAML is a superset of JSON: kubelet and kube-proxy read these files as they are."""
    return json.dumps(obj, indent=2) + "\n"
