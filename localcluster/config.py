"""Settings, paths, pinned versions and port layout of the local cluster.

Everything here is pure (no processes, no network) so it can be unit tested.

Ports: one ``port_base`` (default 6443) is the kube-apiserver's secure port and every
other component's port is derived from it, so two clusters with different bases
(e.g. ``make run`` on 6443 and the test suite on 16443) can run side by side.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
TOOLS_DIR = PACKAGE_DIR / "tools"

DEFAULT_PORT_BASE = 6443
DEFAULT_NODES = 3
# Upstream defaults of kube-controller-manager are qps 20 / burst 30.
DEFAULT_QPS = 20
# Bump when the build recipe (flags, layout) changes so old caches are not reused.
BUILD_RECIPE = "1"

# A /16: a /24 holds only 254 ClusterIPs, too few for benchmark bursts of environments.
SERVICE_CIDR = "10.0.0.0/16"
SERVICE_IP = "10.0.0.1"
POD_CIDR = "10.244.0.0/16"
CLUSTER_DOMAIN = "cluster.local"

ENV_STATE_DIR = "LOCALCLUSTER_STATE_DIR"
ENV_NODES = "LOCALCLUSTER_NODES"
ENV_PORT_BASE = "LOCALCLUSTER_PORT_BASE"
ENV_QPS = "LOCALCLUSTER_QPS"
# Set (to 1) to add a real node (containerd + kubelet + kube-proxy); see localcluster.realnode.
ENV_REAL_NODE = "LOCALCLUSTER_REAL_NODE"
# Not DEVENV_*: that prefix belongs to the operator, whose settings refuse unknown names,
# and `make run` passes the environment on to the operator.
ENV_CACHE_DIR = "LOCALCLUSTER_CACHE_DIR"

BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok")


class LocalClusterError(RuntimeError):
    """A failure with a message meant for the user (no traceback needed)."""


@dataclass(frozen=True)
class Ports:
    """All TCP ports (on 127.0.0.1) used by one cluster, derived from ``port_base``."""

    apiserver: int
    etcd_client: int
    etcd_peer: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        if not 1024 <= base <= 65535 - 5:
            raise LocalClusterError(f"port_base must be between 1024 and 65530, got {base}")
        return cls(
            apiserver=base,
            etcd_client=base + 1,
            etcd_peer=base + 2,
            controller_manager=base + 3,
            scheduler=base + 4,
            kwok=base + 5,
        )

    def all(self) -> dict[str, int]:
        return {
            "kube-apiserver": self.apiserver,
            "etcd (client)": self.etcd_client,
            "etcd (peer)": self.etcd_peer,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
            "kwok": self.kwok,
        }


def burst_for(qps: int) -> int:
    """Client burst that goes with a QPS setting (upstream pairs 20 with 30)."""
    return max(qps + 10, (qps * 3 + 1) // 2)


@dataclass(frozen=True)
class Settings:
    """User-facing settings of one cluster (CLI flags > env vars > defaults)."""

    state_dir: Path
    nodes: int = DEFAULT_NODES
    port_base: int = DEFAULT_PORT_BASE
    qps: int = DEFAULT_QPS
    owner_pid: int | None = None
    # A real node (containerd, kubelet, kube-proxy) besides the kwok nodes; needs root.
    real_node: bool = False

    @property
    def ports(self) -> Ports:
        return Ports.from_base(self.port_base)

    @property
    def burst(self) -> int:
        return burst_for(self.qps)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise LocalClusterError(f"{name} must be an integer, got {raw!r}") from None


def default_state_dir() -> Path:
    raw = os.environ.get(ENV_STATE_DIR, "").strip()
    return Path(raw).expanduser().resolve() if raw else PROJECT_ROOT / ".localcluster"


def settings_from_env(
    state_dir: Path | None = None,
    nodes: int | None = None,
    port_base: int | None = None,
    qps: int | None = None,
    owner_pid: int | None = None,
    real_node: bool | None = None,
) -> Settings:
    """Build settings: explicit arguments win over env vars, which win over defaults.

    With a real node the kwok nodes default to none (pods then run only on the real one).
    """
    if real_node is None:
        real_node = os.environ.get(ENV_REAL_NODE, "").strip() not in ("", "0")
    default_nodes = 0 if real_node else DEFAULT_NODES
    s = Settings(
        state_dir=(state_dir.expanduser().resolve() if state_dir else default_state_dir()),
        nodes=nodes if nodes is not None else _env_int(ENV_NODES, default_nodes),
        port_base=(
            port_base if port_base is not None else _env_int(ENV_PORT_BASE, DEFAULT_PORT_BASE)
        ),
        qps=qps if qps is not None else _env_int(ENV_QPS, DEFAULT_QPS),
        owner_pid=owner_pid,
        real_node=real_node,
    )
    if s.nodes < (0 if real_node else 1):
        raise LocalClusterError(f"nodes must be >= 1 (>= 0 with a real node), got {s.nodes}")
    if s.qps < 1:
        raise LocalClusterError(f"qps must be >= 1, got {s.qps}")
    Ports.from_base(s.port_base)  # validates
    return s


def cache_root() -> Path:
    """``${LOCALCLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/devenv-operator}/localcluster``.

    The variable names the base cache dir; the binaries go to its ``localcluster/`` and the
    benchmark's tools next to it (``bench/``).
    """
    explicit = os.environ.get(ENV_CACHE_DIR, "").strip()
    if explicit:
        base = Path(explicit).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "devenv-operator"
    return base / "localcluster"


@dataclass(frozen=True)
class Pins:
    """Versions pinned by the tools modules."""

    kubernetes: str
    etcd: str
    kwok: str


_REQUIRE_RE = r"^\s*(?:require\s+)?{module}\s+(v[0-9][^\s]*)"


def module_version(gomod_text: str, module: str) -> str:
    """The version of ``module`` required in a go.mod text (ignores replace lines)."""
    pattern = re.compile(_REQUIRE_RE.format(module=re.escape(module)), re.MULTILINE)
    for match in pattern.finditer(gomod_text):
        line_end = gomod_text.find("\n", match.end())
        line = gomod_text[match.start() : line_end if line_end >= 0 else None]
        if "=>" not in line:
            return match.group(1)
    raise LocalClusterError(f"module {module} is not required in go.mod")


def read_pins(tools_dir: Path = TOOLS_DIR) -> Pins:
    def read(sub: str) -> str:
        path = tools_dir / sub / "go.mod"
        try:
            return path.read_text()
        except OSError as e:
            raise LocalClusterError(f"cannot read {path}: {e}") from e

    return Pins(
        kubernetes=module_version(read("kube"), "k8s.io/kubernetes"),
        etcd=module_version(read("etcd"), "go.etcd.io/etcd/server/v3"),
        kwok=module_version(read("kwok"), "sigs.k8s.io/kwok"),
    )


def cache_key(pins: Pins, go_version: str, gomod_texts: tuple[str, ...] = ()) -> str:
    """Directory name for a set of binaries: readable versions plus a digest.

    The digest also covers the full go.mod texts (replaces, indirect pins) and the
    build recipe, so any change to them selects a fresh cache entry.
    """
    h = hashlib.sha256()
    for part in (BUILD_RECIPE, pins.kubernetes, pins.etcd, pins.kwok, go_version, *gomod_texts):
        h.update(part.encode())
        h.update(b"\0")
    versions = f"kube-{pins.kubernetes}_etcd-{pins.etcd}_kwok-{pins.kwok}_{go_version}"
    return f"{versions}_{h.hexdigest()[:12]}"


def kube_minor(version: str) -> tuple[str, str]:
    """``v1.36.3`` -> (``1``, ``36``)."""
    m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+.*", version)
    if not m:
        raise LocalClusterError(f"unexpected kubernetes version {version!r}")
    return m.group(1), m.group(2)
