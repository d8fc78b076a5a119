"""``make bench``: build what is needed, start a private local cluster, run every scenario."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import localcluster
import localcluster.config
from bench import helm, scenarios, stats, template_edit
from bench.cluster import Api, Tracker
from bench.operator_run import SETTINGS, Operator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Apart from the test suite's (16443) and `make run`'s (6443) clusters, and below the
# kernel's ephemeral port range, where a client socket could already hold one of ours.
PORT_BASE = 18443
NODES = 12  # 1,000 one-service environments need > 1,000 pod slots (110 per node)
QPS = 200
SERVICE_CIDR = localcluster.config.SERVICE_CIDR  # a /16: 200 stacks need 600 ClusterIPs
WORKERS = 16  # the operator's default worker threads; the floor gets as many


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for development (2 reps, bursts of 5, 20 at scale)")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--bursts", default="10,50,200")
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--expiry", type=int, default=200)
    parser.add_argument("--template-envs", type=int, default=200,
                        help="environments in the template scenario (each round)")
    parser.add_argument("--only", default="single,burst,scale,expiry,template",
                        help="comma-separated scenarios to run")
    parser.add_argument("--tag", default="",
                        help="suffix for the results file name (bench/results/<date>-<tag>.json)")
    parser.add_argument("--no-readme", action="store_true", help="do not append to README.md")
    parser.add_argument("--port-base", type=int, default=PORT_BASE)
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.bursts, args.scale, args.expiry = 2, "5", 20, 20
        args.template_envs = 5
    return args


def kubectl_path() -> str:
    venv = Path(sys.prefix) / "bin" / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    if not found:
        raise SystemExit("kubectl not found (uv sync installs it)")
    return found


def version_of(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    only = set(args.only.split(","))
    say = scenarios.say
    say("building (or reusing) the control plane and helm")
    localcluster.build()
    helm_bin = str(helm.build())
    state = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
    result: dict[str, Any] = {}
    try:
        cluster = localcluster.up(state_dir=state, nodes=NODES, port_base=args.port_base,
                                  qps=QPS, owner_pid=os.getpid())
        kubectl = kubectl_path()
        subprocess.run([kubectl, f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side",
                        "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run([kubectl, f"--kubeconfig={cluster.kubeconfig}", "wait",
                        "--for=condition=Established", "crd/devenvironments.shipit.dev",
                        "crd/devenvironmenttemplates.shipit.dev", "--timeout=60s"],
                       check=True, capture_output=True)
        api = Api.connect(str(cluster.kubeconfig), pool_size=WORKERS * 2)
        tracker = Tracker(api)
        tracker.start()
        op = Operator(cluster.kubeconfig, state / "operator.log")
        op.start()
        ctx = scenarios.Context(api, tracker, op, cluster.kubeconfig, kubectl, helm_bin,
                                WORKERS)
        result = run(ctx, args, only, helm_bin, kubectl)
        op.stop()
        tracker.stop()
    finally:
        localcluster.down(state)
    write(result, args)
    return 0


def run(ctx: scenarios.Context, args: argparse.Namespace, only: set[str], helm_bin: str,
        kubectl: str) -> dict[str, Any]:
    started = time.monotonic()
    found: dict[str, Any] = {}
    cost: dict[str, Any] = {}
    failures: dict[str, str] = {}

    def attempt(name: str, fn: Callable[[], None]) -> None:
        # A failed scenario is reported, and the others still run.
        try:
            fn()
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            scenarios.say(f"{name} failed: {failures[name]}")

    def burst() -> None:
        found["burst"], cost["stack_burst"] = scenarios.burst(
            ctx, [int(x) for x in args.bursts.split(",")])

    def expiry() -> None:
        found["expiry"] = scenarios.expiry(ctx, args.expiry)

    def scale() -> None:  # last: it restarts the operator (RSS from zero)
        checkpoints = tuple(sorted({min(100, args.scale), args.scale}))
        cost["one_service_scale"] = scenarios.scale(ctx, args.scale, 100 if args.scale >= 100
                                                    else max(args.scale // 2, 1), checkpoints)

    if "single" in only:
        attempt("single", lambda: found.update(single=scenarios.single(ctx, args.reps)))
    if "burst" in only:
        attempt("burst", burst)
    if "expiry" in only:
        attempt("expiry", expiry)
    if "template" in only:
        attempt("template", lambda: found.update(
            template=template_edit.run(ctx, args.template_envs)))
    if "scale" in only:
        attempt("scale", scale)
    if cost:
        found["cost"] = summarize_cost(cost)
    return {
        "schema": stats.SCHEMA_VERSION,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "kubernetes": localcluster.config.read_pins().kubernetes,
                        "kwok": localcluster.config.read_pins().kwok,
                        "helm": helm.pinned_version(),
                        "kubectl": version_of([kubectl, "version", "--client"]),
                        "shared_machine": "other workloads may run concurrently; compare "
                                          "ratios, not absolute times"},
        "settings": {"qps": QPS, "burst": localcluster.config.burst_for(QPS), "nodes": NODES,
                     "client_workers": WORKERS, "args": vars(args),
                     "operator": {"env": SETTINGS or "defaults", "workers": WORKERS},
                     "kwok_pod_ready_delay": 0,
                     "service_cidr": SERVICE_CIDR},
        "duration_seconds": round(time.monotonic() - started),
        "scenarios": found,
        "targets": targets(found),
        "watch_errors": ctx.tracker.errors[:10],
        "scenario_failures": failures,
        "operator_unexpected_exits": ctx.operator.unexpected_exits,
    }


def summarize_cost(cost: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"detail": cost, "per_environment": {}, "rss_mb": {}}
    burst = cost.get("stack_burst") or {}
    if burst:
        c = burst["create_to_ready"]
        out["per_environment"][f"3-service stack ({burst['environments']} at once)"] = {
            "requests": c["requests"], "writes": c["writes"], "events": c["events"],
            "cpu_seconds": c["cpu_seconds"]}
    scale = cost.get("one_service_scale") or {}
    if scale:
        s = scale["per_environment"]
        out["per_environment"][f"1 service ({scale['environments']} in batches)"] = {
            "requests": s["requests"], "writes": s["writes"], "events": None,
            "cpu_seconds": s["cpu_seconds"]}
        out["rss_mb"] = scale["rss_mb"]
    return out


def targets(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    single = found.get("single")
    if single:
        r = single["ratios"].get("operator/floor+deps", {}).get("p50")
        out["single_vs_floor"] = stats.target(
            "single env time-to-Ready p50 within 1.25x floor (dependsOn-honouring)", r, 1.25)
    burst = found.get("burst")
    if burst and "200" in burst["ratios"]:
        r = burst["ratios"]["200"].get("operator/floor+deps", {}).get("p95")
        out["burst200_p95"] = stats.target(
            "burst of 200: operator p95 within 1.5x floor (dependsOn-honouring) p95", r, 1.5)
        op = burst["rounds"]["200"]["operator"]
        out["burst200_clean"] = stats.target(
            "burst of 200: errors + environments left behind", float(
                op["errors"] + op["left_behind"]), 0)
    cost = (found.get("cost") or {}).get("detail", {}).get("stack_burst")
    if cost:
        out["writes"] = stats.target(
            f"API writes per environment (Events excluded) <= 2 x "
            f"{cost['children_per_environment']} children + 3",
            cost["create_to_ready"]["writes_excluding_events"], cost["write_budget"])
    rss = (found.get("cost") or {}).get("rss_mb", {})
    if "1000" in rss:
        out["rss"] = stats.target("operator RSS at 1,000 environments (MB)", rss["1000"], 150)
    exp = found.get("expiry")
    if exp:
        out["expiry"] = stats.target("expiry lateness p99 (s)", exp["lateness"].get("p99"), 2)
    return out


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    if not result:
        return
    problems = stats.validate_result(result)
    if problems:
        scenarios.say(f"result schema problems: {problems}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = result["date"][:10] + ("-quick" if args.quick else "") + (
        f"-{args.tag}" if args.tag else "")
    path = out_dir / f"{stem}.json"
    if path.exists():  # never overwrite an earlier run's results
        path = out_dir / f"{stem}-{result['date'][11:19].replace(':', '')}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    scenarios.say(f"wrote {path.relative_to(ROOT)}")
    summary = stats.markdown(result)
    print(summary)
    if not args.no_readme and not args.quick:
        with (HERE / "README.md").open("a") as fh:
            fh.write("\n" + summary)


if __name__ == "__main__":
    sys.exit(main())
