"""Command line: ``python -m localcluster build|up|down|status [options]``.

Settings come from flags, else env vars (LOCALCLUSTER_STATE_DIR, LOCALCLUSTER_NODES,
LOCALCLUSTER_PORT_BASE, LOCALCLUSTER_QPS), else defaults (state dir ``.localcluster/``
in the project root, 3 nodes, port base 6443, QPS 20 / burst 30 for the
controller-manager and scheduler clients). The binaries are cached under
``${LOCALCLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/devenv-operator}/localcluster``.
No DEVENV_* variable is read: those are the operator's settings.

``up --real-node`` adds a real node (containerd + kubelet + kube-proxy; root, and it
installs Debian packages); ``image`` builds the operator image from the Dockerfile with
buildah (see ``localcluster.realnode``).

``up`` reuses a cluster that is already running in the state dir and never stops one: if
it is still starting or its apiserver is slow to answer, ``up`` waits (``--wait``) and
then gives up with the reason, leaving it running. ``down`` with nothing running says so
and succeeds.

Exit codes: 0 success; 1 failure (message on stderr); 2 usage error;
3 ``status``: no cluster running; 4 ``status``: running but unhealthy/degraded;
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .builder import build
from .cluster import EXISTING_WAIT_S, MARKER, down, status, up
from .config import (
    DEFAULT_NODES,
    DEFAULT_PORT_BASE,
    DEFAULT_QPS,
    ENV_NODES,
    ENV_PORT_BASE,
    ENV_QPS,
    ENV_REAL_NODE,
    ENV_STATE_DIR,
    LocalClusterError,
    Ports,
    burst_for,
    settings_from_env,
)
from .realnode.images import make_images

EXIT_FAILURE = 1
EXIT_NOT_RUNNING = 3
EXIT_UNHEALTHY = 4


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        help=f"cluster state dir (env {ENV_STATE_DIR}; default <project>/.localcluster)",
    )
    p = argparse.ArgumentParser(
        prog="python -m localcluster",
        description="Local Kubernetes control plane (apiserver, etcd, kcm, scheduler, kwok).",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build/cached binaries; print their directory")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    u = sub.add_parser("up", parents=[common], help="start a cluster (no-op if healthy)")
    u.add_argument("--nodes", type=int, help=f"kwok nodes (env {ENV_NODES}; {DEFAULT_NODES})")
    u.add_argument(
        "--port-base",
        type=int,
        help=f"apiserver port; others derive from it (env {ENV_PORT_BASE}; {DEFAULT_PORT_BASE})",
    )
    u.add_argument(
        "--qps",
        type=int,
        help=f"kcm/scheduler client QPS, burst = 1.5x (env {ENV_QPS}; {DEFAULT_QPS}, "
        f"burst {burst_for(DEFAULT_QPS)})",
    )
    u.add_argument("--owner-pid", type=int, help="stop the cluster when this process exits")
    u.add_argument(
        "--real-node",
        action="store_true",
        default=None,
        help=f"add a real node: containerd, kubelet, kube-proxy (root; env {ENV_REAL_NODE}=1)",
    )
    u.add_argument(
        "--wait",
        type=float,
        default=EXISTING_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for a cluster already running here to become ready "
        f"(default {EXISTING_WAIT_S:.0f})",
    )
    sub.add_parser(
        "image",
        parents=[common],
        help="build the operator image (Dockerfile, buildah) and the test images; import "
        "them into the real node's containerd if one runs in the state dir",
    )
    sub.add_parser("down", parents=[common], help="stop the cluster and delete its state dir")
    st = sub.add_parser("status", parents=[common], help="show whether the cluster runs")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _how_to(kubeconfig: Path, server: str, port_base: int) -> str:
    ports = ", ".join(f"{k} {v}" for k, v in Ports.from_base(port_base).all().items())
    return (
        f"Local cluster is up at {server}\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl get nodes\n"
        f"ports: {ports}\n"
        f"logs:  {kubeconfig.parent / 'logs'}\n"
        f"stop:  python -m localcluster down --state-dir {kubeconfig.parent}\n"
    )


def _down(state_dir: Path | None) -> str:
    """Stop the cluster; the sentence that says what there was to stop."""
    root = settings_from_env(state_dir=state_dir).state_dir
    had_state = (root / MARKER).exists()
    if down(root):
        return f"cluster in {root} stopped; state removed"
    if had_state:
        return f"no cluster was running in {root}; removed its leftover state"
    return f"no cluster is running in {root}; nothing to stop"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            print(build(force=args.force))
        elif args.command == "up":
            c = up(
                args.state_dir,
                args.nodes,
                args.port_base,
                args.qps,
                args.owner_pid,
                args.wait,
                args.real_node,
            )
            print(_how_to(c.kubeconfig, c.server, c.port_base), end="")
        elif args.command == "image":
            print(json.dumps(make_images(args.state_dir), indent=2))
        elif args.command == "down":
            print(_down(args.state_dir))
        else:
            st = status(args.state_dir)
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                line = f"{st['state']}: {st['state_dir']}"
                if st.get("server"):
                    line += f" ({st['server']}, KUBECONFIG={st.get('kubeconfig')})"
                if st.get("message"):
                    line += f" - {st['message']}"
                print(line)
            if st["state"] == "running":
                return 0
            if st["state"] in ("absent", "stopped", "failed"):
                return EXIT_NOT_RUNNING
            return EXIT_UNHEALTHY
    except (LocalClusterError, OSError) as e:
        print(f"localcluster: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("localcluster: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
