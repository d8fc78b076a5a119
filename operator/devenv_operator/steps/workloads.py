"""Step: apply the services' workloads and the jobs in dependency waves.

Services and jobs form one ``dependsOn`` graph. Each wave depends only on earlier ones, so
its workloads are applied in parallel, and whether a dependency is ready is judged (by
``childkinds``: a Deployment rolled out, a Service applied, a Job complete) on what this
run just applied. A workload whose dependencies are not ready yet, and that has no
Deployment (a service) or no Job of its current spec (a job) yet, waits: it is not
created. The pods of a job that runs late are read, and a job that failed has the last
lines of its container's log read once (``steps.jobpods``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from devenv_operator import builders, childkinds, kinds, models, status
from devenv_operator.steps import jobpods
from devenv_operator.steps.context import Context, Parts, Stop

Applied = tuple[dict[str, Any] | None, status.ApplyFailure | None]
Workload = models.Service | models.Job
Observed = status.ServiceObservation | status.JobObservation


@dataclass
class _Found:
    """What the waves found so far: readiness by name, and each workload's observation."""

    ready: dict[str, bool] = field(default_factory=dict)
    observed: dict[str, Observed] = field(default_factory=dict)

    def put(self, name: str, observation: Observed, ready: bool) -> None:
        self.observed[name], self.ready[name] = observation, ready

    def services(self, spec: models.DevEnvironmentSpec
                 ) -> dict[str, status.ServiceObservation]:
        return {s.name: o for s in spec.services
                if isinstance(o := self.observed[s.name], status.ServiceObservation)}

    def jobs(self, spec: models.DevEnvironmentSpec) -> list[status.JobObservation]:
        return [o for j in spec.jobs
                if isinstance(o := self.observed[j.name], status.JobObservation)]


def workloads(parts: Parts, ctx: Context) -> Stop | None:
    env = ctx.environment()
    spec = env.spec
    every: list[Workload] = [*spec.services, *spec.jobs]
    by_name = {w.name: w for w in every}
    found = _Found()
    for wave in builders.dependency_levels(spec.dependencies()):
        applying: list[Workload] = []
        for name in wave:
            workload = by_name[name]
            waiting = [d for d in workload.depends_on or [] if not found.ready.get(d)]
            if waiting and not _exists(ctx, env, workload):
                found.put(name, _waiting(env, workload, waiting), False)
            else:
                applying.append(workload)
        for workload, (observation, ready) in zip(applying, apply_wave(parts, ctx, applying),
                                                  strict=True):
            found.put(workload.name, observation, ready)
    ctx.run.keep[kinds.DEPLOYMENT.kind] = {s.name for s in spec.services}
    ctx.run.keep[kinds.SERVICE.kind] = {s.name for s in spec.services if s.ports}
    ctx.run.keep[kinds.JOB.kind] = {o.job_name for o in found.jobs(spec)
                                    if o.job is not None}
    services = found.services(spec)
    recheck = status.worth_rechecking_pods(ctx.previous)
    if recheck or not all(found.ready[name] for name in services):
        services = parts.children.with_pods(env, services, ctx.now, always=recheck)
    jobs = [jobpods.with_failure_log(parts, ctx, o)
            for o in jobpods.with_pods(parts, ctx, found.jobs(spec))]
    ctx.obs = replace(ctx.obs, services=[services[s.name] for s in spec.services], jobs=jobs,
                      endpoints=[(s.name, p.port) for s in spec.services
                                 for p in s.ports or []])
    return None


def _exists(ctx: Context, env: builders.Env, workload: Workload) -> bool:
    """Whether the workload's object is there already (it is kept up to date even while a
    dependency is not ready: only creation waits)."""
    if isinstance(workload, models.Job):
        name = builders.job_object_name(env, workload)
        return ctx.children[kinds.JOB.kind].get(name) is not None
    return ctx.children[kinds.DEPLOYMENT.kind].get(workload.name) is not None


def _waiting(env: builders.Env, workload: Workload, waiting: list[str]) -> Observed:
    if isinstance(workload, models.Job):
        return status.JobObservation(workload.name, builders.job_object_name(env, workload),
                                     waiting_for=waiting)
    return status.ServiceObservation(workload.name, workload.replicas, waiting_for=waiting)


def apply_wave(parts: Parts, ctx: Context, workloads: Sequence[Workload]
               ) -> list[tuple[Observed, bool]]:
    """Apply the objects of one wave at once (none waits on another): each workload's
    observation, and whether all its objects are ready."""
    env = ctx.environment()
    calls: list[Callable[[], Applied]] = []
    for workload in workloads:
        for kind, obj in desired(env, workload):
            calls.append(functools.partial(parts.applier.try_apply, ctx.run, kind, obj,
                                           ctx.children) if obj is not None else _nothing)
    results = iter(parts.fanout.run(calls))
    observed: list[tuple[Observed, bool]] = []
    for workload in workloads:
        applied = {row.name: next(results) for row in childkinds.of_step("workloads")}
        error = next((e for _, e in applied.values() if e is not None), None)
        # Unwanted objects (a Service for a service without ports) come back as None.
        ready = error is None and all(childkinds.is_ready(kind, obj)
                                      for kind, (obj, _) in applied.items() if obj is not None)
        observed.append((_observation(ctx, env, workload, applied, error), ready))
    return observed


def _observation(ctx: Context, env: builders.Env, workload: Workload,
                 applied: dict[str, Applied], error: status.ApplyFailure | None) -> Observed:
    if isinstance(workload, models.Job):
        name = builders.job_object_name(env, workload)
        job = applied[kinds.JOB.kind][0] or ctx.children[kinds.JOB.kind].get(name)
        return status.JobObservation(workload.name, name, job, error=error)
    deployment = applied[kinds.DEPLOYMENT.kind][0] or ctx.children[
        kinds.DEPLOYMENT.kind].get(workload.name)
    return status.ServiceObservation(workload.name, workload.replicas, deployment, error=error)


def desired(env: builders.Env, workload: Workload
            ) -> list[tuple[kinds.Kind, dict[str, Any] | None]]:
    """The objects of one service or job, in the table's order (None: not wanted)."""
    built: dict[str, dict[str, Any] | None]
    if isinstance(workload, models.Job):
        built = {kinds.JOB.kind: builders.build_job(env, workload)}
    else:
        built = {kinds.DEPLOYMENT.kind: builders.build_deployment(env, workload),
                 kinds.SERVICE.kind: builders.build_service(env, workload)}
    return [(row.kind, built.get(row.name)) for row in childkinds.of_step("workloads")]


def _nothing() -> Applied:
    return None, None
