"""The four scenarios: single environment, bursts, cost per environment, expiry precision.

Each returns a JSON-ready dict. Baselines run in the same process on the same cluster,
interleaved with the operator where it matters (single), so ratios compare like with like.
"""

from __future__ import annotations

import concurrent.futures as cf
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import methods, render, stats
from bench.cluster import Api, Tracker
from bench.operator_run import Operator
from devenv_operator import kube

CHART = Path(__file__).resolve().parent / "chart"


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Context:
    api: Api
    tracker: Tracker
    operator: Operator
    kubeconfig: Path
    kubectl: str
    helm: str
    workers: int


def run_method(ctx: Context, method: str, spec: dict[str, Any], count: int
               ) -> tuple[methods.Plan, list[methods.Sample]]:
    ctx.operator.ensure_running()
    p = methods.plan(method, spec, count)
    if method == "operator":
        return p, methods.run_operator(ctx.api, ctx.tracker, p, ctx.workers)
    if method in ("floor", "floor+deps"):
        return p, methods.run_floor(ctx.api, ctx.tracker, p, ctx.workers,
                                    honour_deps=method == "floor+deps")
    if method == "kubectl":
        return p, methods.run_kubectl(ctx.tracker, p, ctx.kubectl, ctx.kubeconfig)
    return p, methods.run_helm(ctx.tracker, p, ctx.helm, ctx.kubeconfig, CHART)


def delete(ctx: Context, p: methods.Plan) -> None:
    with cf.ThreadPoolExecutor(ctx.workers) as pool:
        if p.method == "operator":
            list(pool.map(lambda n: ctx.api.delete(kube.DEVENV, n), p.names))
        else:
            list(pool.map(lambda ns: ctx.api.delete(kube.NAMESPACE, ns), p.namespaces))


def teardown(ctx: Context, p: methods.Plan, timeout: float = 600, *,
             requested: bool = False) -> tuple[float, int]:
    """Delete a round's environments; (seconds until all namespaces are gone, left behind)."""
    started = time.monotonic()
    if not requested:
        delete(ctx, p)
    names, namespaces = set(p.names), set(p.namespaces)

    def gone() -> bool:
        return not (namespaces & ctx.tracker.namespaces) and not (
            p.method == "operator" and names & ctx.tracker.devenv_names)

    ctx.tracker.wait(gone, timeout)
    with ctx.tracker._cond:
        left = len(namespaces & ctx.tracker.namespaces)
        if p.method == "operator":
            left += len(names & ctx.tracker.devenv_names)
    return time.monotonic() - started, left


def _summaries(samples: list[methods.Sample]) -> dict[str, Any]:
    totals = [s.total for s in samples if s.total is not None]
    steps: dict[str, list[float]] = {}
    for s in samples:
        for step, value in s.steps().items():
            steps.setdefault(step, []).append(value)
    return {"total": stats.summarize(totals),
            "steps": {k: stats.summarize(v) for k, v in steps.items()},
            "errors": [s.error for s in samples if s.error]}


# -- 1. single environment -----------------------------------------------------------------

SINGLE_METHODS = ("operator", "floor", "floor+deps", "kubectl", "helm")


def single(ctx: Context, reps: int) -> dict[str, Any]:
    spec = render.stack_manifest()["spec"]
    samples: dict[str, list[methods.Sample]] = {m: [] for m in SINGLE_METHODS}
    plans: list[methods.Plan] = []
    for rep in range(reps):
        # Rotate the order so that no method always runs right after another's teardown.
        order = SINGLE_METHODS[rep % len(SINGLE_METHODS):] + SINGLE_METHODS[
            :rep % len(SINGLE_METHODS)]
        for method in order:
            p, got = run_method(ctx, method, spec, 1)
            samples[method].extend(got)
            delete(ctx, p)  # namespaces finish terminating while the next method runs
            plans.append(p)
        say(f"single: rep {rep + 1}/{reps}: " + ", ".join(
            f"{m} {samples[m][-1].total or float('nan'):.2f}s" for m in SINGLE_METHODS))
    left = sum(teardown(ctx, p, requested=True)[1] for p in plans)
    summaries = {m: _summaries(s) for m, s in samples.items()}
    totals = {m: s["total"] for m, s in summaries.items()}
    return {"reps": reps, "methods": summaries, "ratios": stats.ratios(totals, "operator"),
            "left_behind": left,
            "api_retries": ctx.api.retries,
            "notes": "floor applies the namespace, then all other objects at once, ignoring "
                     "dependsOn; floor+deps creates api only once db and cache are Available, "
                     "as the operator must. kubectl = apply + rollout status; helm = install "
                     "--wait. Time from the first request to Ready (operator: the Ready "
                     "condition; others: every Deployment Available / the tool's exit)."}


# -- 2. bursts -----------------------------------------------------------------------------

BURST_METHODS = ("operator", "floor", "floor+deps")


def burst(ctx: Context, sizes: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bursts; also returns the operator's cost for the largest burst (per environment)."""
    spec = render.stack_manifest()["spec"]
    rounds: dict[str, dict[str, Any]] = {}
    cost: dict[str, Any] = {}
    for size in sizes:
        rounds[str(size)] = {}
        for method in BURST_METHODS:
            before = _operator_counters(ctx)
            p, samples = run_method(ctx, method, spec, size)
            after = _operator_counters(ctx, settle=method == "operator")
            starts = [s.started for s in samples]
            ends = [s.ready_at for s in samples if s.ready_at is not None]
            makespan = (max(ends) - min(starts)) if ends else None
            summary = _summaries(samples)
            torn, left = teardown(ctx, p)
            after_delete = _operator_counters(ctx)
            rounds[str(size)][method] = {
                "makespan": round(makespan, 3) if makespan else None,
                "time_to_ready": summary["total"], "steps": summary["steps"],
                "per_second": round(len(ends) / makespan, 2) if makespan else None,
                "errors": len(summary["errors"]), "error_samples": summary["errors"][:5],
                "left_behind": left, "teardown_seconds": round(torn, 1)}
            if method == "operator" and size == max(sizes):
                cost = _cost(ctx, p, size, before, after, after_delete)
            say(f"burst {size} {method}: makespan {makespan or float('nan'):.1f}s, p95 "
                f"{summary['total'].get('p95', float('nan'))}s, errors "
                f"{len(summary['errors'])}, left {left}, teardown {torn:.0f}s")
        ttr = {m: d["time_to_ready"] for m, d in rounds[str(size)].items()}
        rounds[str(size)]["ratios"] = stats.ratios(ttr, "operator", ("p50", "p95", "p99"))
    return {"rounds": {k: {m: d for m, d in v.items() if m != "ratios"}
                       for k, v in rounds.items()},
            "ratios": {k: v["ratios"] for k, v in rounds.items()}}, cost


def _operator_counters(ctx: Context, settle: bool = False) -> dict[str, Any]:
    """The operator's request counts and CPU; with settle, once its request counts have
    stopped moving (Events are posted from a queue, after the environments are Ready)."""
    ctx.operator.ensure_running()
    requests = ctx.operator.requests_by_verb()
    deadline = time.monotonic() + 30
    while settle and time.monotonic() < deadline:
        time.sleep(1.0)
        again = ctx.operator.requests_by_verb()
        if again == requests:
            break
        requests = again
    return {"requests": requests, "cpu": ctx.operator.cpu_seconds()}


def _count_events(ctx: Context, names: set[str]) -> int:
    return sum(1 for e in ctx.api.list(kube.EVENT, "default")
               if (e.get("involvedObject") or {}).get("name") in names
               and e.get("reportingComponent") == kube.FIELD_MANAGER)


def _cost(ctx: Context, p: methods.Plan, n: int, before: dict[str, Any],
          after: dict[str, Any], after_delete: dict[str, Any]) -> dict[str, Any]:
    create = stats.counter_deltas(before["requests"], after["requests"])
    delete = stats.counter_deltas(after["requests"], after_delete["requests"])
    children = p.rendered[0].child_count
    events = _count_events(ctx, set(p.names)) / n
    writes = stats.writes(create) / n
    return {
        "environments": n, "children_per_environment": children,
        "create_to_ready": {"requests": stats.per_item(create, n), "writes": round(writes, 2),
                            "events": round(events, 2),
                            "writes_excluding_events": round(writes - events, 2),
                            "cpu_seconds": round((after["cpu"] - before["cpu"]) / n, 4)},
        "teardown": {"requests": stats.per_item(delete, n) if delete else {},
                     "cpu_seconds": round((after_delete["cpu"] - after["cpu"]) / n, 4)},
        "write_budget": 2 * children + 3,
    }


# -- 3. memory at scale --------------------------------------------------------------------


def scale(ctx: Context, total: int, batch: int, checkpoints: tuple[int, ...]) -> dict[str, Any]:
    """Operator RSS with 0..total one-service environments, created in batches."""
    ctx.operator.stop()
    ctx.operator.start()
    time.sleep(3)
    rss = {"0": ctx.operator.rss_mb()}
    spec = render.one_service_spec()
    plans: list[methods.Plan] = []
    before = _operator_counters(ctx)
    errors, created, slowest = 0, 0, 0.0
    started = time.monotonic()
    while created < total:
        p, samples = run_method(ctx, "operator", spec, min(batch, total - created))
        plans.append(p)
        created += len(samples)
        errors += sum(1 for s in samples if s.error)
        slowest = max([slowest, *(s.total or 0.0 for s in samples)])
        if created in checkpoints:
            time.sleep(2)
            rss[str(created)] = ctx.operator.rss_mb()
            say(f"scale: {created} environments Ready, operator RSS {rss[str(created)]} MB")
    elapsed = time.monotonic() - started
    after = _operator_counters(ctx, settle=True)
    rss[f"{total} (after 30 s)"] = _settle(ctx, 30)
    requests = stats.counter_deltas(before["requests"], after["requests"])
    left = 0
    torn_started = time.monotonic()
    for p in plans:  # delete all, then wait for all
        delete(ctx, p)
    deadline = time.monotonic() + 600
    for p in plans:
        left += teardown(ctx, p, max(deadline - time.monotonic(), 1), requested=True)[1]
    return {"environments": total, "batch": batch, "rss_mb": rss, "errors": errors,
            "create_seconds": round(elapsed, 1), "slowest_time_to_ready": round(slowest, 2),
            "per_environment": {"requests": stats.per_item(requests, total),
                                "writes": round(stats.writes(requests) / total, 2),
                                "cpu_seconds": round((after["cpu"] - before["cpu"]) / total, 4)},
            "children_per_environment": plans[0].rendered[0].child_count,
            "teardown_seconds": round(time.monotonic() - torn_started, 1), "left_behind": left}


def _settle(ctx: Context, seconds: float) -> float:
    time.sleep(seconds)
    return ctx.operator.rss_mb()


# -- 4. expiry precision -------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry(ctx: Context, count: int, spread_s: float = 20.0) -> dict[str, Any]:
    """``count`` one-service environments whose expiresAt is staggered over ``spread_s``."""
    lead = max(30.0, count * 0.3)  # time to create them all before the first expires
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=lead)
    per_second = max(1, round(count / spread_s))
    expires = [base + timedelta(seconds=i // per_second) for i in range(count)]
    p = methods.plan("operator", render.one_service_spec(), count)
    methods.run_operator(ctx.api, ctx.tracker, p, ctx.workers,
                         extra=lambda i: {"expires_at": _rfc3339(expires[i])})
    last = expires[-1].timestamp()

    def all_gone() -> bool:
        return all(ctx.tracker.envs.get(ns) is not None
                   and ctx.tracker.envs[ns].namespace_gone is not None for ns in p.namespaces)

    ctx.tracker.wait(all_gone, max(last - time.time(), 0) + 300)
    lateness, gone, missing = [], [], 0
    with ctx.tracker._cond:
        for name, ns, at in zip(p.names, p.namespaces, expires, strict=True):
            d = ctx.tracker.devenvs.get(name)
            t = ctx.tracker.envs.get(ns)
            if d is None or d.deleting is None:
                missing += 1
                continue
            lateness.append(d.deleting - at.timestamp())
            if t is not None and t.namespace_gone is not None:
                gone.append(t.namespace_gone - at.timestamp())
    left = len(set(p.namespaces) & ctx.tracker.namespaces) + len(
        set(p.names) & ctx.tracker.devenv_names)
    return {"environments": count, "spread_seconds": spread_s,
            "lateness": stats.summarize(lateness),
            "expiry_to_namespace_gone": stats.summarize(gone),
            "not_deleted": missing, "left_behind": left,
            "notes": "lateness = when the watch first saw deletionTimestamp minus expiresAt "
                     "(whole seconds), both on this machine's clock"}
