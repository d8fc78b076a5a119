"""``make run``: run the operator in the foreground against a cluster.

With a reachable cluster in ``$KUBECONFIG`` (or ``~/.kube/config``) it uses that cluster.
Otherwise it starts the local control plane (owned by this process, so it never outlives
it), installs ``crds/``, and runs the operator until Ctrl-C, then stops what it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import cluster as cluster_mod
from .config import default_state_dir
from .procs import set_pdeathsig

ROOT = Path(__file__).resolve().parents[1]


def _kubectl() -> str:
    candidate = Path(sys.prefix) / "bin" / "kubectl"
    return str(candidate) if candidate.is_file() else "kubectl"


def _reachable(kubeconfig: str) -> bool:
    try:
        proc = subprocess.run(
            [_kubectl(), f"--kubeconfig={kubeconfig}", "version", "--request-timeout=5s"],
            capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _user_kubeconfig() -> str | None:
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        return explicit
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def main() -> int:
    kubeconfig = _user_kubeconfig()
    started_here = False
    if kubeconfig and _reachable(kubeconfig):
        print(f"[run] using the cluster in {kubeconfig}", flush=True)
    else:
        if kubeconfig:
            print(f"[run] the cluster in {kubeconfig} is not reachable; "
                  "starting the local control plane instead", flush=True)
        else:
            print("[run] no KUBECONFIG: starting the local control plane", flush=True)
        local = cluster_mod.up(state_dir=default_state_dir(), owner_pid=os.getpid())
        kubeconfig = str(local.kubeconfig)
        started_here = True
    env = {**os.environ, "KUBECONFIG": kubeconfig,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "operator"),
                                                       os.environ.get("PYTHONPATH")]))}
    try:
        print("[run] installing the DevEnvironment CRD from crds/", flush=True)
        subprocess.run([_kubectl(), "apply", "--server-side", "-f", str(ROOT / "crds")],
                       env=env, check=True)
        subprocess.run([_kubectl(), "wait", "--for=condition=Established",
                        "crd/devenvironments.shipit.dev", "--timeout=60s"], env=env, check=True)
        print(f"[run] operator starting; in another shell:\n"
              f"  export KUBECONFIG={kubeconfig}\n"
              f"  kubectl apply -f examples/minimal.yaml && kubectl get devenv -w\n"
              f"[run] Ctrl-C stops the operator"
              f"{' and the local cluster' if started_here else ''}.", flush=True)
        return _run_operator(env)
    finally:
        if started_here:
            print("[run] stopping the local control plane", flush=True)
            cluster_mod.down(default_state_dir())


def _run_operator(env: dict[str, str]) -> int:
    # Own process group: a terminal's Ctrl-C reaches only us, and we forward exactly one
    # SIGINT (two would interrupt the operator's orderly shutdown).
    # PDEATHSIG: if we are killed outright, the operator goes with us.
    proc = subprocess.Popen([sys.executable, "-m", "devenv_operator"], env=env,
                            start_new_session=True, preexec_fn=set_pdeathsig)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        return 130


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
