"""Step: apply the services' workloads in dependency waves.

Each wave depends only on earlier ones, so its services are applied in parallel, and
whether a dependency is Available is judged (by ``childkinds``: a Deployment rolled out,
a Service applied) on what this run just applied. A service whose dependencies are not
Available yet, and that has no workload yet, waits: it is not created.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from devenv_operator import builders, childkinds, kinds, models, status
from devenv_operator.steps.context import Context, Parts, Stop

Applied = tuple[dict[str, Any] | None, status.ApplyFailure | None]


def workloads(parts: Parts, ctx: Context) -> Stop | None:
    env = ctx.environment()
    by_name = {s.name: s for s in env.spec.services}
    available: dict[str, bool] = {}
    found: dict[str, status.ServiceObservation] = {}
    deployments = ctx.children[kinds.DEPLOYMENT.kind]
    for wave in builders.dependency_levels({s.name: list(s.depends_on or [])
                                            for s in env.spec.services}):
        applying: list[models.Service] = []
        for name in wave:
            service = by_name[name]
            waiting = [d for d in service.depends_on or [] if not available.get(d)]
            if deployments.get(name) is None and waiting:
                available[name] = False
                found[name] = status.ServiceObservation(name, service.replicas,
                                                        waiting_for=waiting)
            else:
                applying.append(service)
        for service, (observation, ready) in zip(applying, apply_wave(parts, ctx, applying),
                                                 strict=True):
            found[service.name], available[service.name] = observation, ready
    ctx.run.keep[kinds.DEPLOYMENT.kind] = set(by_name)
    ctx.run.keep[kinds.SERVICE.kind] = {s.name for s in env.spec.services if s.ports}
    recheck = status.worth_rechecking_pods(ctx.previous)
    if recheck or not all(available.values()):
        found = parts.children.with_pods(env, found, ctx.now, always=recheck)
    ctx.obs = replace(ctx.obs, services=[found[s.name] for s in env.spec.services],
                      endpoints=[(s.name, p.port) for s in env.spec.services
                                 for p in s.ports or []])
    return None


def apply_wave(parts: Parts, ctx: Context, services: Sequence[models.Service]
               ) -> list[tuple[status.ServiceObservation, bool]]:
    """Apply the workloads of one wave at once (none waits on another): each service's
    observation, and whether all its objects are ready."""
    env = ctx.environment()
    jobs: list[Callable[[], Applied]] = []
    for service in services:
        for kind, obj in desired(env, service):
            jobs.append(functools.partial(parts.applier.try_apply, ctx.run, kind, obj,
                                          ctx.children) if obj is not None else _nothing)
    results = iter(parts.fanout.run(jobs))
    observed: list[tuple[status.ServiceObservation, bool]] = []
    for service in services:
        applied = {row.name: next(results) for row in childkinds.of_step("workloads")}
        error = next((e for _, e in applied.values() if e is not None), None)
        deployment = applied[kinds.DEPLOYMENT.kind][0] or ctx.children[
            kinds.DEPLOYMENT.kind].get(service.name)
        # Unwanted objects (a Service for a service without ports) come back as None.
        ready = error is None and all(childkinds.is_ready(kind, obj)
                                      for kind, (obj, _) in applied.items() if obj is not None)
        observed.append((status.ServiceObservation(service.name, service.replicas, deployment,
                                                   error=error), ready))
    return observed


def desired(env: builders.Env, service: models.Service
            ) -> list[tuple[kinds.Kind, dict[str, Any] | None]]:
    """The workload objects of one service, in the table's order (None: not wanted)."""
    built = {kinds.DEPLOYMENT.kind: builders.build_deployment(env, service),
             kinds.SERVICE.kind: builders.build_service(env, service)}
    return [(row.kind, built[row.name]) for row in childkinds.of_step("workloads")]


def _nothing() -> Applied:
    return None, None
