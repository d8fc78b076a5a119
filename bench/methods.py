"""Ways to bring up environments, each timed the same way from the same watches.

Every method returns one ``Sample`` per environment: seconds from the start of its first
request to its milestones (namespace created, config seeded, every Deployment Available,
Ready as the method defines it). The floor and floor+dependsOn use a direct client with
server-side apply; ``kubectl`` and ``helm`` run the real tools; ``operator`` creates the
DevEnvironment and waits for its Ready condition.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import render
from bench.cluster import Api, Tracker

TIMEOUT_S = 600.0
_rounds = itertools.count(1)


@dataclass
class Sample:
    """Milestones of one environment, in seconds from its first request (None: not reached)."""

    name: str
    namespace: str
    started: float
    namespace_at: float | None = None
    config_at: float | None = None
    services_at: float | None = None
    ready_at: float | None = None
    error: str | None = None

    @property
    def total(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.started

    def steps(self) -> dict[str, float]:
        """Increments between successive milestones (namespace, config, services, status)."""
        marks = [("namespace", self.namespace_at), ("config", self.config_at),
                 ("services", self.services_at), ("status", self.ready_at)]
        out: dict[str, float] = {}
        previous = self.started
        for step, at in marks:
            if at is None:
                return out
            out[step] = max(at - previous, 0.0)
            previous = max(previous, at)
        return out


@dataclass
class Plan:
    """The environments of one round (same spec for all)."""

    method: str
    spec: dict[str, Any]
    names: list[str]
    namespaces: list[str]
    rendered: list[render.Rendered] = field(default_factory=list)


def plan(method: str, spec: dict[str, Any], count: int) -> Plan:
    n = next(_rounds)
    tag = {"operator": "o", "floor": "f", "floor+deps": "d", "kubectl": "k", "helm": "h"}[method]
    names = [f"{tag}{n}-{i}" for i in range(count)]
    namespaces = [f"dev-{x}" if method == "operator" else f"bench-{x}" for x in names]
    rendered = [render.render(name, spec, ns) for name, ns in zip(names, namespaces, strict=True)]
    return Plan(method, spec, names, namespaces, rendered)


def fill_milestones(sample: Sample, tracker: Tracker, r: render.Rendered) -> None:
    """Copy the tracker's watch times for this environment into the sample."""
    times = tracker.envs.get(sample.namespace)
    if times is None:
        return
    sample.namespace_at = times.namespace
    if len(times.config) >= len(r.config):
        sample.config_at = max(times.config.values()) if times.config else times.namespace
    if len(times.available) >= len(r.services):
        sample.services_at = max(times.available.values())


def all_available(tracker: Tracker, namespace: str, services: list[str]) -> bool:
    times = tracker.envs.get(namespace)
    return times is not None and all(s in times.available for s in services)


# -- operator ------------------------------------------------------------------------------


def run_operator(api: Api, tracker: Tracker, p: Plan, workers: int,
                 extra: Callable[[int], dict[str, Any]] | None = None) -> list[Sample]:
    samples = [Sample(n, ns, 0.0) for n, ns in zip(p.names, p.namespaces, strict=True)]

    def create(i: int) -> None:
        body = render.devenv(p.names[i], p.spec, **(extra(i) if extra else {}))
        samples[i].started = time.time()
        try:
            api.create(body)
        except Exception as exc:
            samples[i].error = f"create: {exc}"

    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, range(len(samples))))

    def done() -> bool:
        return all(s.error or "Ready" in tracker.devenvs.get(s.name, _NO).conditions
                   for s in samples)

    tracker.wait(done, TIMEOUT_S)
    with tracker._cond:
        for s, r in zip(samples, p.rendered, strict=True):
            d = tracker.devenvs.get(s.name)
            if d is not None and "Ready" in d.conditions:
                s.ready_at = d.conditions["Ready"]
            elif s.error is None:
                s.error = "not Ready in time"
            fill_milestones(s, tracker, r)
    return samples


class _No:
    conditions: dict[str, float] = {}  # noqa: RUF012 - read-only sentinel


_NO = _No()


# -- the floor: the same objects applied directly ------------------------------------------


def run_floor(api: Api, tracker: Tracker, p: Plan, workers: int, *,
              honour_deps: bool) -> list[Sample]:
    """Namespace first, then every other object at once (or services by dependsOn level)."""
    samples = [Sample(n, ns, 0.0) for n, ns in zip(p.names, p.namespaces, strict=True)]
    lock = threading.Lock()
    pending: dict[int, set[str]] = {}  # env index -> services not yet submitted
    pool = cf.ThreadPoolExecutor(workers)
    futures: list[cf.Future[None]] = []

    def apply(i: int, obj: dict[str, Any]) -> None:
        try:
            api.apply(obj)
        except Exception as exc:
            samples[i].error = samples[i].error or f"{obj['kind']} {obj['metadata']['name']}: {exc}"

    def submit_service(i: int, service: str) -> None:
        for obj in p.rendered[i].services[service]:
            futures.append(pool.submit(apply, i, obj))

    def after_namespace(i: int) -> None:
        apply(i, p.rendered[i].namespace)
        r = p.rendered[i]
        with lock:
            for obj in r.config:
                futures.append(pool.submit(apply, i, obj))
            waiting = set()
            for service, deps in r.depends_on.items():
                if honour_deps and deps:
                    waiting.add(service)
                else:
                    submit_service(i, service)
            pending[i] = waiting

    def start(i: int) -> None:
        samples[i].started = time.time()
        after_namespace(i)

    with lock:
        for i in range(len(samples)):
            futures.append(pool.submit(start, i))

    def ready_dependents() -> bool:
        with lock:
            return any(
                all_available(tracker, p.namespaces[i], p.rendered[i].depends_on[s])
                for i, waiting in pending.items() for s in waiting)

    deadline = time.monotonic() + TIMEOUT_S
    while honour_deps and time.monotonic() < deadline:
        with lock:
            if len(pending) == len(samples) and not any(pending.values()):
                break
        tracker.wait(ready_dependents, 0.2)
        with tracker._cond, lock:
            for i, waiting in pending.items():
                for service in sorted(waiting):
                    deps = p.rendered[i].depends_on[service]
                    if all_available(tracker, p.namespaces[i], deps):
                        waiting.discard(service)
                        submit_service(i, service)

    def done() -> bool:
        return all(s.error or all_available(tracker, s.namespace, list(r.services))
                   for s, r in zip(samples, p.rendered, strict=True))

    tracker.wait(done, max(deadline - time.monotonic(), 1.0))
    pool.shutdown(wait=True)
    with tracker._cond:
        for s, r in zip(samples, p.rendered, strict=True):
            fill_milestones(s, tracker, r)
            s.ready_at = s.services_at
            if s.ready_at is None and s.error is None:
                s.error = "not Available in time"
    return samples


# -- the tools users would otherwise use ---------------------------------------------------


def _timed(cmd: list[str], stdin: str | None = None) -> tuple[float, str | None]:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S)
    error = None
    if proc.returncode != 0:
        error = f"{Path(cmd[0]).name} exit {proc.returncode}: {proc.stderr[-300:]}"
    return time.time(), error


def run_kubectl(tracker: Tracker, p: Plan, kubectl: str, kubeconfig: Path) -> list[Sample]:
    """One environment at a time: ``kubectl apply`` then ``kubectl rollout status``."""
    samples = []
    for name, ns, r in zip(p.names, p.namespaces, p.rendered, strict=True):
        s = Sample(name, ns, time.time())
        base = [kubectl, f"--kubeconfig={kubeconfig}"]
        _, s.error = _timed([*base, "apply", "-f", "-"], render.to_yaml(r.all()))
        if s.error is None:
            deployments = [f"deployment/{x}" for x in r.services]
            end, s.error = _timed([*base, "-n", ns, "rollout", "status", "--timeout=5m",
                                   *deployments])
            s.ready_at = end if s.error is None else None
        with tracker._cond:
            fill_milestones(s, tracker, r)
        samples.append(s)
    return samples


def run_helm(tracker: Tracker, p: Plan, helm: str, kubeconfig: Path, chart: Path
             ) -> list[Sample]:
    """One environment at a time: ``helm install --wait`` of the equivalent chart."""
    samples = []
    for name, ns, r in zip(p.names, p.namespaces, p.rendered, strict=True):
        s = Sample(name, ns, time.time())
        end, s.error = _timed([helm, f"--kubeconfig={kubeconfig}", "install", name, str(chart),
                               "-n", ns, "--create-namespace", "--wait", "--timeout=5m",
                               "--set", f"environment={name}"])
        s.ready_at = end if s.error is None else None
        with tracker._cond:
            fill_milestones(s, tracker, r)
        samples.append(s)
    return samples
