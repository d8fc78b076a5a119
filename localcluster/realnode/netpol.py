"""The real node's NetworkPolicy enforcer: kube-router's firewall, run as a host process.

Neither kubelet, containerd nor the bridge CNI enforces a NetworkPolicy: without an
enforcer, a class's isolation is only objects. kube-router's network-policy controller
(``--run-firewall``; its router, service proxy and load-balancer allocator off) watches
pods, namespaces and NetworkPolicies on the node and programs the host's iptables filter
table and ipsets: a chain per local pod (``KUBE-POD-FW-*``), one per policy
(``KUBE-NWPLCY-*``), jumps from INPUT, FORWARD and OUTPUT (``KUBE-ROUTER-*``), and sets of
allowed peers (``KUBE-SRC-*``, ``KUBE-DST-*``). Bridged pod-to-pod traffic reaches those
chains through bridge netfilter (``host.prepare_network`` turns it on).

It fits these machines because it needs iptables (NFQUEUE/NFLOG, conntrack, physdev,
set) and ipset hash:ip/hash:net, which the kernel has, and no nftables queueing, which it
lacks. A test-tier component only: the Go module proxy serves this module at one version,
with security flaws reported for it; it is pinned in ``tools/netpol`` and never shipped.

It starts through ``python -m localcluster.realnode.netpol_launch``, which waits
until kubelet has registered the node with its InternalIP (kube-router reads both once, at
start, and exits without them), then becomes kube-router (exec). The health and metrics
servers stay off (kube-router would bind them on every address);
readiness is read from the filter table. When it exits it leaves its rules in place
(fail closed); :func:`remove_state` takes them back (``clean`` and the tests do).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

from ..builder import cached_build, go_version, run_go_build
from ..config import BUILD_RECIPE, SERVICE_CIDR, TOOLS_DIR, LocalClusterError
from . import host
from .config import NODE_NAME

COMPONENT = "netpol"
BINARY = "kube-router"
MODULE = "github.com/cloudnativelabs/kube-router/v2"
PACKAGE = f"{MODULE}/cmd/kube-router"
MODULE_DIR = TOOLS_DIR / "netpol"
# Chains kube-router's firewall makes in the filter table; its top-level chains are the
# targets of the jumps it inserts into INPUT, FORWARD and OUTPUT.
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
FORWARD_CHAIN = "KUBE-ROUTER-FORWARD"
# Its ipsets: policy peers, and the temporary sets of an atomic swap (16 base32 letters).
IPSET_NAME = re.compile(r"^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-)[A-Z2-7]{16}$")
ENFORCING_TIMEOUT_S = 60.0


def version() -> str:
    """The pinned version, as ``tools/netpol/go.mod`` requires it."""
    text = (MODULE_DIR / "go.mod").read_text()
    found = re.search(rf"^\s*{re.escape(MODULE)} (v\S+)", text, re.MULTILINE)
    if found is None:
        raise LocalClusterError(f"{MODULE_DIR / 'go.mod'} does not require {MODULE}")
    return found.group(1)


def netpol_key() -> str:
    gomod = (MODULE_DIR / "go.mod").read_text()
    go = go_version()
    digest = hashlib.sha256("\0".join((BUILD_RECIPE, go, gomod)).encode())
    return f"netpol-kube-router-{version()}_{go}_{digest.hexdigest()[:12]}"


def ldflags(ver: str) -> str:
    return f"-s -w -X {MODULE}/pkg/version.Version={ver}"


def build_netpol() -> Path:
    """Make sure kube-router exists for the pinned version; return its directory."""
    ver = version()

    def build_into(tmp: Path) -> None:
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags(ver),
               "-o", str(tmp / "bin" / BINARY), PACKAGE]
        run_go_build(cmd, MODULE_DIR, tmp / "build.log", f"kube-router {ver}")

    return cached_build(netpol_key(), (BINARY,), f"kube-router {ver} (network policy)",
                        build_into)


def launcher_argv(bin_dir: Path, kubeconfig: Path, server: str, pki_dir: Path) -> list[str]:
    """The supervisor's command line: the launcher, which then runs :func:`argv`."""
    return [sys.executable, "-m", "localcluster.realnode.netpol_launch", server, str(pki_dir),
            "--", *argv(bin_dir, kubeconfig)]


def argv(bin_dir: Path, kubeconfig: Path) -> list[str]:
    """The firewall alone, for the real node, with nothing listening."""
    return [
        str(bin_dir / BINARY),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


# -- its state on the host ---------------------------------------------------------------


def _filter_rules() -> list[str]:
    if shutil.which("iptables-save") is None:
        return []
    return host.run(["iptables-save", "-t", "filter"], check=False).stdout.splitlines()


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def chains() -> list[str]:
    """kube-router's chains in the filter table."""
    return sorted(line.split()[0][1:] for line in _filter_rules()
                  if line.startswith(":") and _ours(line.split()[0][1:]))


def ipsets() -> list[str]:
    if shutil.which("ipset") is None:
        return []
    names = host.run(["ipset", "list", "-n"], check=False).stdout.split()
    return sorted(n for n in names if IPSET_NAME.match(n))


def enforcing() -> bool:
    """Its forward chain exists and FORWARD jumps to it: bridged and routed pod traffic
    passes its pod chains."""
    rules = _filter_rules()
    return (f":{FORWARD_CHAIN}" in {line.split()[0] for line in rules if line}
            and any(line.startswith("-A FORWARD ") and line.endswith(f"-j {FORWARD_CHAIN}")
                    for line in rules))


def wait_enforcing(timeout: float = ENFORCING_TIMEOUT_S) -> float:
    """Seconds until :func:`enforcing`; LocalClusterError after ``timeout``."""
    start = time.monotonic()
    while not enforcing():
        if time.monotonic() - start > timeout:
            raise LocalClusterError(
                f"kube-router installed no {FORWARD_CHAIN} jump in {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - start


def remove_state() -> None:
    """Take back every rule, chain and ipset of kube-router's firewall (safe to run twice,
    and while kube-proxy runs: only its own chains are touched)."""
    rules = _filter_rules()
    for line in rules:
        rule = shlex.split(line)
        if (rule[:1] == ["-A"] and not _ours(rule[1]) and "-j" in rule
                and _ours(rule[rule.index("-j") + 1])):
            host.run(["iptables", "-t", "filter", "-D", *rule[1:]], check=False)
    mine = chains()
    for chain in mine:
        host.run(["iptables", "-t", "filter", "-F", chain], check=False)
    for chain in mine:
        host.run(["iptables", "-t", "filter", "-X", chain], check=False)
    for name in ipsets():
        host.run(["ipset", "destroy", name], check=False)
