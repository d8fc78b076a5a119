"""``python -m localcluster.realnode.netpol_launch SERVER PKI_DIR -- KUBE-ROUTER-ARGV...``.

kube-router reads the Node object (its name and InternalIP) once, at start, and exits
when it is not there yet; the supervisor starts it together with kubelet, before kubelet
has registered the node. This waits for that registration on the apiserver (admin client
certificate), then becomes kube-router (exec: same pid, so the supervisor stops it).
Exit codes: 1 the node never registered; 2 usage error. See :mod:`.netpol`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..api import Api
from ..pki import Pki
from .config import NODE_NAME

NODE_WAIT_S = 300.0


def node_registered(api: Api) -> bool:
    """The node exists and has an InternalIP (kube-router's node address)."""
    try:
        code, text = api.request("GET", f"/api/v1/nodes/{NODE_NAME}", timeout=5.0)
    except OSError:
        return False
    if code != 200:
        return False
    addresses = json.loads(text).get("status", {}).get("addresses", [])
    return any(a.get("type") == "InternalIP" for a in addresses)


def main(args: list[str]) -> int:
    """``SERVER PKI_DIR -- KUBE-ROUTER-ARGV...``: wait for the node, then exec kube-router."""
    if len(args) < 4 or args[2] != "--":
        print("usage: python -m localcluster.realnode.netpol_launch SERVER PKI_DIR -- ARGV...",
              file=sys.stderr)
        return 2
    api = Api(args[0], Pki(Path(args[1])))
    deadline = time.monotonic() + NODE_WAIT_S
    while not node_registered(api):
        if time.monotonic() > deadline:
            print(f"node {NODE_NAME} not registered after {NODE_WAIT_S:.0f}s", flush=True)
            return 1
        time.sleep(1)
    print(f"node {NODE_NAME} registered; starting {' '.join(args[3:])}", flush=True)
    os.execv(args[3], args[3:])  # noqa: S606 - our own argv, from the plan


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
