"""What a real node changes on the host, made idempotently and taken back completely.

Debian packages (containerd, runc, CNI plugins...) are installed with apt-get when missing.
``prepare_network`` makes the bridge with the node's address and the host route that keeps
the service range on it; ``clean`` removes everything the node left: containers and their
shims, mounts under the node's directories, network namespaces, the bridge and its veths,
kube-proxy's iptables chains and kubelet's cgroups. ``leftovers`` lists what remains (the
real-node tests assert it is empty after ``down``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..config import SERVICE_CIDR, LocalClusterError
from .config import BRIDGE, CNI_NETWORK, GATEWAY, NODE_SUBNET, NodeLayout

# Debian package -> a file it installs (present means installed).
PACKAGES = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "/usr/sbin/iptables",
    "ipset": "/usr/sbin/ipset",  # kube-router's firewall (netpol.py) runs it
    "busybox-static": "/bin/busybox",
    "buildah": "/usr/bin/buildah",
    "debootstrap": "/usr/sbin/debootstrap",
}
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"
NETNS_DIR = Path("/var/run/netns")
# Paths kubelet and containerd's runc shim use whatever their root dirs are: removed when
# empty (the device-plugin socket is kubelet's own).
KUBELET_SOCKET = Path("/var/lib/kubelet/device-plugins/kubelet.sock")
FIXED_DIRS = (KUBELET_SOCKET.parent, KUBELET_SOCKET.parent.parent,
              Path("/run/containerd/runc/k8s.io"), Path("/run/containerd/runc"),
              Path("/run/containerd/s"), Path("/run/containerd"))
PROGRESS_EVERY_S = 15.0
# The CNI portmap plugin's chains in the nat table (a hostPort: the gateway's listener).
HOSTPORT_CHAINS = ("CNI-HOSTPORT-", "CNI-DN-")


def _say(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


def run(
    cmd: list[str], check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LocalClusterError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
        )
    return proc


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise LocalClusterError(
            f"{what} needs root (it installs packages, runs containerd and kubelet, and "
            "changes the host's network and cgroups); run it as root, e.g. in a CI VM"
        )


def missing_packages(packages: dict[str, str] | None = None) -> list[str]:
    return [name for name, path in (packages or PACKAGES).items() if not Path(path).exists()]


def run_with_progress(cmd: list[str], what: str, log: Path, env: dict[str, str] | None = None,
                      cwd: Path | None = None) -> None:
    """Run a long command with its output in ``log``, saying every few seconds it goes on."""
    start = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL)
        try:
            next_note = start + PROGRESS_EVERY_S
            while proc.poll() is None:
                time.sleep(0.5)
                if time.monotonic() >= next_note:
                    _say(f"still {what}… {time.monotonic() - start:.0f}s elapsed (log {log})")
                    next_note += PROGRESS_EVERY_S
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise LocalClusterError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    _say(f"done {what} in {time.monotonic() - start:.0f}s")


def install_packages(log: Path, packages: dict[str, str] | None = None) -> None:
    """apt-get install what is missing (nothing to do, and no network, when all are there)."""
    missing = missing_packages(packages)
    if not missing:
        return
    require_root("installing " + ", ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _say(f"installing Debian packages: {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    try:
        run_with_progress(install, "installing packages", log, env=env)
    except LocalClusterError:
        run_with_progress(["apt-get", "update"], "updating package lists", log, env=env)
        run_with_progress(install, "installing packages", log, env=env)
    still = missing_packages(packages)
    if still:
        raise LocalClusterError(f"packages still missing after apt-get install: {still}")


# -- network ---------------------------------------------------------------------------


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _write_sysctl(name: str, value: str) -> None:
    path = Path("/proc/sys") / name.replace(".", "/")
    with contextlib.suppress(OSError):
        if path.read_text().strip() != value:
            path.write_text(value)


def prepare_network() -> None:
    """The bridge with the node's address, before kubelet (it serves there) and the CNI
    plugin (which adopts it) need it; and the service range routed onto it."""
    if not _link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    prefix = NODE_SUBNET.split("/")[1]
    addrs = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout
    if f" {GATEWAY}/" not in addrs:
        run(["ip", "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    run(["ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY])
    # Pod -> ClusterIP -> pod on the same bridge needs the bridge's traffic to pass
    # iptables (when the kernel has br_netfilter; without it, host -> ClusterIP still works).
    _write_sysctl("net.bridge.bridge-nf-call-iptables", "1")
    _write_sysctl("net.ipv4.ip_forward", "1")


def _links_on_bridge() -> list[str]:
    brif = Path("/sys/class/net", BRIDGE, "brif")
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def remove_network() -> None:
    for veth in _links_on_bridge():
        run(["ip", "link", "del", veth], check=False)
    run(["ip", "route", "del", SERVICE_CIDR, "dev", BRIDGE], check=False)
    if _link_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE], check=False)


# -- what the node leaves behind --------------------------------------------------------


def _mounts_under(paths: list[Path]) -> list[str]:
    roots = [str(p.resolve()) for p in paths]
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].encode().decode("unicode_escape")
            if any(target == r or target.startswith(r + "/") for r in roots):
                found.append(target)
    return found


def _kubepods_cgroups() -> list[Path]:
    """kubelet's pod cgroups (cgroupfs driver): ``kubepods`` in every v1 hierarchy, or at
    the root of the unified (v2) hierarchy."""
    found = []
    if CGROUP_ROOT.is_dir():
        tops = [CGROUP_ROOT / KUBEPODS] + [h / KUBEPODS for h in CGROUP_ROOT.iterdir()
                                           if h.is_dir() and h.name != KUBEPODS]
        for top in tops:
            if top.is_dir():
                found += [Path(d) for d, _, _ in os.walk(top)]
    return found


def _netns() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def _procs_using(paths: list[Path]) -> list[int]:
    """Pids whose command line names one of ``paths`` (containerd shims of this node)."""
    roots = [str(p) for p in paths]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and any(r in cmdline for r in roots):
            pids.append(int(entry.name))
    return pids


def _shims(layout: NodeLayout) -> list[int]:
    # A shim's command line names the containerd socket it serves (its -address flag).
    return _procs_using([layout.containerd_socket])


def leftovers(layout: NodeLayout) -> dict[str, list[str]]:
    """Everything a node can leave on the host; empty lists when it is cleanly gone."""
    return {
        "shims": [str(p) for p in _shims(layout)],
        "mounts": _mounts_under([layout.root]),
        "cgroups": [str(p) for p in _kubepods_cgroups()],
        "links": ([BRIDGE] if _link_exists(BRIDGE) else []) + _links_on_bridge(),
        "netns": [n for n in _netns() if n.startswith("cni-")],
        "iptables": [c for c in _kube_chains() if c],
        "files": [str(KUBELET_SOCKET)] if KUBELET_SOCKET.exists() else [],
    }


def _kube_chains() -> list[str]:
    if shutil.which("iptables-save") is None:
        return []
    found: set[str] = set()
    for table in ("nat", "filter", "mangle"):
        out = run(["iptables-save", "-t", table], check=False).stdout
        found |= {f"{table}/{line.split()[0][1:]}" for line in out.splitlines()
                  if line.startswith((":KUBE-", *(f":{p}" for p in HOSTPORT_CHAINS)))}
    return sorted(found)


def stop_shims(layout: NodeLayout) -> None:
    for pid in _shims(layout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def unmount_all(layout: NodeLayout) -> None:
    # Deepest first, lazily: a busy mount must not stop the rest from going.
    for target in sorted(_mounts_under([layout.root]), key=len, reverse=True):
        run(["umount", "-l", target], check=False)


def remove_netns() -> None:
    for name in _netns():
        if name.startswith("cni-"):
            path = NETNS_DIR / name
            run(["umount", "-l", str(path)], check=False)
            with contextlib.suppress(OSError):
                path.unlink()


def remove_cgroups() -> None:
    # Children before parents; a cgroup with no process can be removed with rmdir.
    for path in sorted(_kubepods_cgroups(), key=lambda p: len(p.parts), reverse=True):
        for _ in range(20):
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def remove_cni_cache() -> None:
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for f in results.glob(f"{CNI_NETWORK}-*"):
            with contextlib.suppress(OSError):
                f.unlink()


def _remove_chains(table: str, prefixes: tuple[str, ...], saved: str) -> None:
    """Delete the chains of ``table`` named with ``prefixes`` (from ``iptables-save``)."""
    chains = [line.split()[0][1:] for line in saved.splitlines()
              if line.startswith(":") and line[1:].startswith(prefixes)]
    # Jumps into them from the other chains first, or they cannot be deleted.
    for line in saved.splitlines():
        rule = shlex.split(line)
        if (rule[:1] == ["-A"] and not rule[1].startswith(prefixes) and "-j" in rule
                and rule[rule.index("-j") + 1].startswith(prefixes)):
            run(["iptables", "-t", table, "-D", *rule[1:]], check=False)
    for chain in chains:
        run(["iptables", "-t", table, "-F", chain], check=False)
    for chain in chains:
        run(["iptables", "-t", table, "-X", chain], check=False)


def ours_only_hostport_chains(saved_nat: str) -> bool:
    """Every jump of the portmap plugin's ``CNI-HOSTPORT-DNAT`` to a container's chain is
    commented with this node's network, or there is none: then its shared chains are ours
    to remove (another CNI runtime's host ports would still need them)."""
    jumps = [line for line in saved_nat.splitlines()
             if line.startswith("-A CNI-HOSTPORT-DNAT ") and "-j CNI-DN-" in line]
    return all(f'dnat name: \\"{CNI_NETWORK}\\"' in line for line in jumps)


def remove_kube_chains() -> None:
    """kube-proxy's chains (its own --cleanup) and kubelet's canaries it leaves; the portmap
    plugin's (the gateway's hostPort) when no other network uses them."""
    if shutil.which("iptables") is None:
        return
    for table in ("nat", "filter", "mangle"):
        saved = run(["iptables-save", "-t", table], check=False).stdout
        _remove_chains(table, ("KUBE-",), saved)
        if table == "nat" and ours_only_hostport_chains(saved):
            _remove_chains(table, HOSTPORT_CHAINS, saved)


def kill_pod_processes() -> None:
    """SIGKILL whatever still runs in kubelet's pod cgroups (containers outlive their shim)."""
    for path in _kubepods_cgroups():
        with contextlib.suppress(OSError):
            for pid in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)


def clean(layout: NodeLayout, proxy_bin: Path | None) -> None:
    """Remove what the node left after its daemons stopped (safe to run twice)."""
    stop_shims(layout)
    kill_pod_processes()
    if proxy_bin is not None and proxy_bin.is_file():
        run([str(proxy_bin), "--cleanup"], check=False, timeout=60)
    remove_kube_chains()
    unmount_all(layout)
    remove_netns()
    remove_network()
    remove_cgroups()
    remove_cni_cache()
    remove_fixed_paths()


def remove_fixed_paths() -> None:
    with contextlib.suppress(OSError):
        KUBELET_SOCKET.unlink()
    for d in FIXED_DIRS:
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty: another runtime's files stay
