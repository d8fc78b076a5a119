"""Expiry lateness over many environments with staggered TTLs.

    uv run python -m bench.expiry_lateness [--count 60] [--min-ttl 20] [--spread 40]

Brings up its own local control plane (state under ``.localcluster/bench-expiry`` unless
``--state-dir``), starts the operator as a subprocess, creates ``--count`` cheap
DevEnvironments (one service scaled to zero) whose TTLs are spread over ``--spread``
seconds, and watches them. Lateness of one environment = the moment a watch event first
shows it with a ``deletionTimestamp`` (or deleted) minus ``creationTimestamp + ttl`` (both
computed here, independently of the operator's ``status.expiresAt``). It also reports the
operator's own ``devenv_expiry_lateness_seconds`` histogram for comparison.

Not part of the test run: it takes ``min-ttl + spread`` seconds plus cluster start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

import localcluster
from bench.cluster import Api
from bench.stats import parse_prometheus, summarize
from devenv_operator import errors, kube
from localcluster.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "bench-exp-"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    exe = Path(sys.prefix) / "bin" / "kubectl"
    proc = subprocess.run([str(exe), f"--kubeconfig={kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


class Operator(OperatorProcess):
    """The operator as a subprocess, started at once, with the metrics port on a free port."""

    def __init__(self, kubeconfig: Path, log_path: Path, settings: dict[str, str]) -> None:
        super().__init__(kubeconfig, settings)
        self.launch(log_path)


class DeletionWatch:
    """Timestamps (wall clock, on receipt) when each bench environment starts deleting."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = Api.connect(str(kubeconfig), pool_size=2)
        self.deleting: dict[str, float] = {}
        self.created: dict[str, datetime] = {}
        self.expires_at: dict[str, str] = {}
        self.lock = threading.Lock()
        self.stopped = False
        self.resource_version = self.api.list_versioned(kube.DEVENV)[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception:
            if not self.stopped:  # the cluster going away at the end is expected
                raise

    def _follow(self) -> None:
        for event in self.api.kube.watch(kube.DEVENV, self.resource_version,
                                         timeout_seconds=3600, stopped=lambda: self.stopped):
            received = time.time()
            obj: dict[str, Any] = event["object"]
            if event["type"] == "ERROR":
                raise errors.from_status(int(obj.get("code", 500)), obj.get("reason", ""),
                                         str(obj.get("message")), "watch devenvironments")
            if event["type"] == "BOOKMARK":
                continue
            meta = obj["metadata"]
            name = meta["name"]
            if not name.startswith(PREFIX):
                continue
            with self.lock:
                self.created.setdefault(name, parse_time(meta["creationTimestamp"]))
                expires = (obj.get("status") or {}).get("expiresAt")
                if expires:
                    self.expires_at[name] = expires
                if (event["type"] == "DELETED" or meta.get("deletionTimestamp")) and (
                        name not in self.deleting):
                    self.deleting[name] = received

    def stop(self) -> None:
        self.stopped = True  # the watch ends at its next chunk (or when the cluster goes)


def manifest(name: str, ttl: int) -> dict[str, Any]:
    return {"apiVersion": kube.DEVENV.api_version, "kind": kube.DEVENV.kind,
            "metadata": {"name": name},
            "spec": {"ttl": f"{ttl}s",
                     "services": [{"name": "web", "image": "nginx:1.27", "replicas": 0}]}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = localcluster.up(state_dir=args.state_dir, port_base=args.port_base,
                              owner_pid=os.getpid())
    operator: Operator | None = None
    watch: DeletionWatch | None = None
    try:
        kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"))
        kubectl(cluster.kubeconfig, "wait", "--for=condition=Established",
                "crd/devenvironments.shipit.dev", "--timeout=60s")
        operator = Operator(cluster.kubeconfig, args.state_dir / "operator.log",
                            {"DEVENV_EXPIRY_WARNING": "5s", "DEVENV_LOG_LEVEL": "WARNING"})
        watch = DeletionWatch(cluster.kubeconfig)
        ttls = {f"{PREFIX}{i:03d}": args.min_ttl + (i * args.spread) // args.count
                for i in range(args.count)}
        docs = [manifest(name, ttl) for name, ttl in ttls.items()]
        kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
        print(f"created {len(ttls)} environments, TTLs {min(ttls.values())}s.."
              f"{max(ttls.values())}s", file=sys.stderr)
        deadline = time.monotonic() + args.min_ttl + args.spread + 60
        while time.monotonic() < deadline:
            with watch.lock:
                if len(watch.deleting) == len(ttls):
                    break
            time.sleep(0.5)
        with watch.lock:
            missing = sorted(set(ttls) - set(watch.deleting))
            lateness = {
                name: watch.deleting[name]
                - (watch.created[name] + timedelta(seconds=ttl)).timestamp()
                for name, ttl in ttls.items() if name in watch.deleting
            }
            status_mismatch = sorted(
                name for name, ttl in ttls.items()
                if name in watch.expires_at and parse_time(watch.expires_at[name])
                != watch.created[name] + timedelta(seconds=ttl))
        samples = parse_prometheus(operator.get("/metrics"))
        count = sum(samples.get("devenv_expiry_lateness_seconds_count", {}).values())
        total = sum(samples.get("devenv_expiry_lateness_seconds_sum", {}).values())
        return {
            "environments": len(ttls),
            "ttl_seconds": {"min": min(ttls.values()), "max": max(ttls.values())},
            "lateness_seconds": summarize(lateness.values()),
            "not_deleted": missing,
            "status_expiresAt_mismatches": status_mismatch,
            "operator_histogram": {"count": count,
                                   "mean": round(total / count, 3) if count else None},
        }
    finally:
        if watch is not None:
            watch.stop()
        if operator is not None:
            operator.stop()
        if not args.keep_cluster:
            localcluster.down(args.state_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.expiry_lateness",
                                     description=__doc__.split("\n\n")[1] if __doc__ else "")
    parser.add_argument("--count", type=int, default=60, help="environments (default 60)")
    parser.add_argument("--min-ttl", type=int, default=20, help="shortest TTL, seconds")
    parser.add_argument("--spread", type=int, default=40,
                        help="TTLs are spread evenly over this many seconds")
    parser.add_argument("--state-dir", type=Path,
                        default=ROOT / ".localcluster" / "bench-expiry")
    parser.add_argument("--port-base", type=int, default=19443)
    parser.add_argument("--keep-cluster", action="store_true",
                        help="leave the local cluster running afterwards")
    args = parser.parse_args(argv)
    if args.count < 1 or args.min_ttl < 1 or args.spread < 0:
        parser.error("--count and --min-ttl must be positive, --spread not negative")
    result = run(args)
    print(json.dumps(result, indent=2))
    return 0 if not result["not_deleted"] and not result["status_expiresAt_mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
