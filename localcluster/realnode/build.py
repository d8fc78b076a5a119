"""Build kubelet and kube-proxy from ``tools/node`` (the control plane's k8s.io/kubernetes
version and staging modules), cached by version like the control plane's binaries."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from ..builder import _locked, _say, go_version, kube_ldflags, run_go_build
from ..config import BUILD_RECIPE, TOOLS_DIR, LocalClusterError, cache_root, read_pins

NODE_BINARIES = ("kubelet", "kube-proxy")
COMPLETE_MARKER = "complete"


def node_key() -> str:
    pins = read_pins()
    gomod = (TOOLS_DIR / "node" / "go.mod").read_text()
    go = go_version()
    digest = hashlib.sha256("\0".join((BUILD_RECIPE, pins.kubernetes, go, gomod)).encode())
    return f"node-{pins.kubernetes}_{go}_{digest.hexdigest()[:12]}"


def build_node() -> Path:
    """Make sure kubelet and kube-proxy exist for the pinned version; return their dir."""
    key = node_key()
    root = cache_root()
    entry = root / key
    if (entry / COMPLETE_MARKER).is_file():
        return entry / "bin"
    with _locked(root / f"{key}.lock"):
        if (entry / COMPLETE_MARKER).is_file():
            return entry / "bin"
        version = read_pins().kubernetes
        start = time.monotonic()
        _say(f"building kubelet and kube-proxy {version} into {entry}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=root))
        try:
            (tmp / "bin").mkdir()
            cmd = ["go", "build", "-trimpath", "-ldflags", kube_ldflags(version),
                   "-o", f"{tmp / 'bin'}/",
                   *(f"k8s.io/kubernetes/cmd/{b}" for b in NODE_BINARIES)]
            run_go_build(cmd, TOOLS_DIR / "node", tmp / "build.log", "kubelet, kube-proxy")
            missing = [b for b in NODE_BINARIES if not (tmp / "bin" / b).is_file()]
            if missing:
                raise LocalClusterError(f"build finished but binaries are missing: {missing}")
            (tmp / COMPLETE_MARKER).write_text(f"{key}\n")
            tmp.chmod(0o755)
            if entry.exists():
                shutil.rmtree(entry)
            tmp.rename(entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        _say(f"kubelet and kube-proxy built in {time.monotonic() - start:.0f}s")
    return entry / "bin"
