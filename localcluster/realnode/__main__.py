"""``python -m localcluster.realnode up|down|build`` (``make real-up`` / ``make real-down``
/ ``make real-build``).

``up`` brings up the real-node cluster with the operator installed from deploy/ and the
lookalike images loaded, prints how to use it and leaves it running; ``down`` stops it and
cleans the host. Root. See :mod:`localcluster.realnode.realup`. ``build`` only builds (or
finds cached) the node's binaries: kubelet and kube-proxy, kube-router and Traefik (no root
needed), so that CI can build them while ``make test`` runs.
Exit codes: 0 success; 1 failure (message on stderr); 2 usage error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import LocalClusterError
from . import netpol, traefik
from .build import build_node
from .realup import how_to, real_down, real_up


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m localcluster.realnode",
                                description=(__doc__ or "").split("\n\n")[1])
    p.add_argument("command", choices=["up", "down", "build"])
    args = p.parse_args(argv)
    try:
        if args.command == "build":
            for built in (build_node(), netpol.build_netpol(), traefik.build_traefik()):
                print(built)
        elif args.command == "up":
            done = real_up()
            print(json.dumps(done.figures), file=sys.stderr)
            print(how_to(done.cluster), end="")
        else:
            print(real_down())
    except (LocalClusterError, OSError) as e:
        print(f"localcluster.realnode: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("localcluster.realnode: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
