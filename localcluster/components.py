"""Command lines of the control-plane components and the on-disk layout of a state dir.

Pure functions: given settings, binary dir and layout they return argv lists. The
supervisor runs them in the order returned by :func:`component_specs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import CLUSTER_DOMAIN, POD_CIDR, SERVICE_CIDR, Settings
from .pki import Pki

KWOK_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"


@dataclass(frozen=True)
class Layout:
    """Where everything lives inside a state dir."""

    root: Path

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def stages(self) -> Path:
        return self.config_dir / "kwok-stages.yaml"

    def component_kubeconfig(self, name: str) -> Path:
        return self.config_dir / f"{name}.kubeconfig"

    @property
    def restart(self) -> Path:
        return self.root / "restart.json"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


@dataclass(frozen=True)
class ComponentSpec:
    """One process the supervisor runs, plus how to tell that it is ready."""

    name: str
    argv: list[str]
    # "etcd" / "apiserver" readiness is probed by the supervisor before starting the
    # next component; other components are only checked to be still running.
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def etcd_argv(bin_dir: Path, s: Settings, layout: Layout) -> list[str]:
    p = s.ports
    client = f"http://127.0.0.1:{p.etcd_client}"
    peer = f"http://127.0.0.1:{p.etcd_peer}"
    return [
        str(bin_dir / "etcd"),
        "--name=localcluster",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=localcluster={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_argv(bin_dir: Path, s: Settings, layout: Layout) -> list[str]:
    p = s.ports
    pki = layout.pki
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={p.apiserver}",
        f"--tls-cert-file={pki.server_crt}",
        f"--tls-private-key-file={pki.server_key}",
        f"--client-ca-file={pki.ca_crt}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # 127.0.0.1 is not a valid endpoint address, so do not reconcile the
        # "kubernetes" service endpoints (nothing in-cluster talks to it anyway).
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
        *(real_node_apiserver_flags(layout) if s.real_node else []),
    ]


def real_node_apiserver_flags(layout: Layout) -> list[str]:
    """kubectl logs/exec on a real node: reach kubelet by its InternalIP (its name does not
    resolve) and authenticate to it with a client certificate kubelet trusts."""
    pki = layout.pki
    return [
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={pki.client_crt('admin')}",
        f"--kubelet-client-key={pki.client_key('admin')}",
    ]


def _client_flags(kubeconfig: Path, s: Settings, port: int) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        f"--kube-api-qps={s.qps}",
        f"--kube-api-burst={s.burst}",
        "--profiling=false",
    ]


def controller_manager_argv(bin_dir: Path, s: Settings, layout: Layout) -> list[str]:
    pki = layout.pki
    kubeconfig = layout.component_kubeconfig("controller-manager")
    return [
        str(bin_dir / "kube-controller-manager"),
        *_client_flags(kubeconfig, s, s.ports.controller_manager),
        f"--root-ca-file={pki.ca_crt}",
        f"--service-account-private-key-file={pki.sa_key}",
        # Each controller uses its own service account, as on kubeadm clusters.
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki.ca_crt}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--v=1",
    ]


def scheduler_argv(bin_dir: Path, s: Settings, layout: Layout) -> list[str]:
    kubeconfig = layout.component_kubeconfig("scheduler")
    return [
        str(bin_dir / "kube-scheduler"),
        *_client_flags(kubeconfig, s, s.ports.scheduler),
        "--v=1",
    ]


def kwok_argv(bin_dir: Path, s: Settings, layout: Layout) -> list[str]:
    return [
        str(bin_dir / "kwok"),
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={layout.stages}",
        # Only the nodes localcluster registers for kwok: a real node is kubelet's.
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_SELECTOR}",
        f"--server-address=127.0.0.1:{s.ports.kwok}",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.96.0.1",
    ]


def component_specs(bin_dir: Path, s: Settings, layout: Layout) -> list[ComponentSpec]:
    """Components in start order (stop order is the reverse)."""
    p = s.ports
    return [
        ComponentSpec(
            "etcd", etcd_argv(bin_dir, s, layout), f"http://127.0.0.1:{p.etcd_client}/health"
        ),
        ComponentSpec(
            "kube-apiserver",
            apiserver_argv(bin_dir, s, layout),
            f"https://127.0.0.1:{p.apiserver}/readyz",
        ),
        ComponentSpec("kube-controller-manager", controller_manager_argv(bin_dir, s, layout)),
        ComponentSpec("kube-scheduler", scheduler_argv(bin_dir, s, layout)),
        ComponentSpec("kwok", kwok_argv(bin_dir, s, layout)),
    ]
