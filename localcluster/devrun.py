"""``make run``: run the operator in the foreground against a cluster.

With a reachable cluster in ``$KUBECONFIG`` (or ``~/.kube/config``) it uses that cluster.
Otherwise it uses the local control plane: the one already running in the default state
dir if there is one (waiting for it if it is busy, never stopping it), else one it starts
(owned by this process, so it never outlives it). It installs ``crds/`` and the classes in
``deploy/classes/``, runs the operator until Ctrl-C, then stops the local cluster only if
it started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import cluster as cluster_mod
from .components import Layout
from .config import LocalClusterError, default_state_dir
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


def _same_file(a: str | Path, b: Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == b.resolve()
    except OSError:
        return False


def choose_cluster(state_dir: Path) -> tuple[str, bool]:
    """(kubeconfig, whether this call started the local cluster and so must stop it)."""
    kubeconfig = _user_kubeconfig()
    local_kubeconfig = Layout(state_dir).kubeconfig
    # The local cluster's own kubeconfig skips the quick reachability check: a busy local
    # apiserver fails it, and ``up`` knows how to wait for that cluster instead.
    if kubeconfig and _same_file(kubeconfig, local_kubeconfig):
        print(f"[run] KUBECONFIG is the local cluster's ({state_dir})", flush=True)
    elif kubeconfig and _reachable(kubeconfig):
        print(f"[run] using the cluster in {kubeconfig}", flush=True)
        return kubeconfig, False
    elif kubeconfig:
        print(f"[run] the cluster in {kubeconfig} is not reachable; "
              "using the local control plane instead", flush=True)
    else:
        print("[run] no KUBECONFIG: using the local control plane", flush=True)
    local = cluster_mod.up(state_dir=state_dir, owner_pid=os.getpid())
    if not local.started:
        print(f"[run] the local cluster in {state_dir} was already running: using it; "
              "it keeps running when this stops", flush=True)
    return str(local.kubeconfig), local.started


def main() -> int:
    state_dir = default_state_dir()
    try:
        kubeconfig, started_here = choose_cluster(state_dir)
    except LocalClusterError as e:
        print(f"[run] error: {e}", file=sys.stderr, flush=True)
        return 1
    env = {**os.environ, "KUBECONFIG": kubeconfig,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "operator"),
                                                       os.environ.get("PYTHONPATH")]))}
    try:
        print("[run] installing the CRDs from crds/ and the default DevEnvironmentClass",
              flush=True)
        subprocess.run([_kubectl(), "apply", "--server-side", "-f", str(ROOT / "crds")],
                       env=env, check=True)
        subprocess.run([_kubectl(), "wait", "--for=condition=Established",
                        "crd/devenvironments.shipit.dev",
                        "crd/devenvironmentclasses.shipit.dev",
                        "crd/devenvironmenttemplates.shipit.dev", "--timeout=60s"],
                       env=env, check=True)
        subprocess.run([_kubectl(), "apply", "-k", str(ROOT / "deploy" / "classes")],
                       env=env, check=True)
        print(f"[run] operator starting; in another shell:\n"
              f"  export KUBECONFIG={kubeconfig}\n"
              f"  kubectl apply -f examples/minimal.yaml && kubectl get devenv -w\n"
              f"[run] Ctrl-C stops the operator"
              f"{' and the local cluster' if started_here else ''}.", flush=True)
        return _run_operator(env)
    except subprocess.CalledProcessError as e:
        print(f"[run] error: {' '.join(map(str, e.cmd[:3]))} ... exited with {e.returncode}",
              file=sys.stderr, flush=True)
        return 1
    finally:
        # Only a cluster this run started; one that was already running is someone else's.
        if started_here:
            print("[run] stopping the local control plane", flush=True)
            try:
                cluster_mod.down(state_dir)
            except LocalClusterError as e:
                print(f"[run] error: {e}", file=sys.stderr, flush=True)


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
