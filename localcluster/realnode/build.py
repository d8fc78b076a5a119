"""Build kubelet and kube-proxy from ``tools/node`` (the control plane's k8s.io/kubernetes
version and staging modules), cached by version like the control plane's binaries."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..builder import cached_build, go_version, kube_ldflags, run_go_build
from ..config import BUILD_RECIPE, TOOLS_DIR, read_pins

NODE_BINARIES = ("kubelet", "kube-proxy")


def node_key() -> str:
    pins = read_pins()
    gomod = (TOOLS_DIR / "node" / "go.mod").read_text()
    go = go_version()
    digest = hashlib.sha256("\0".join((BUILD_RECIPE, pins.kubernetes, go, gomod)).encode())
    return f"node-{pins.kubernetes}_{go}_{digest.hexdigest()[:12]}"


def build_node() -> Path:
    """Make sure kubelet and kube-proxy exist for the pinned version; return their dir."""
    version = read_pins().kubernetes

    def build_into(tmp: Path) -> None:
        cmd = ["go", "build", "-trimpath", "-ldflags", kube_ldflags(version),
               "-o", f"{tmp / 'bin'}/",
               *(f"k8s.io/kubernetes/cmd/{b}" for b in NODE_BINARIES)]
        run_go_build(cmd, TOOLS_DIR / "node", tmp / "build.log", "kubelet, kube-proxy")

    return cached_build(node_key(), NODE_BINARIES, f"kubelet and kube-proxy {version}",
                        build_into)
