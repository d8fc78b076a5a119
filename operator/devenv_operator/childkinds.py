"""The table of child kinds: for each kind an environment owns, how it is handled.

One row per kind: where it lives in the API, which reconcile step applies it, whether the
operator watches it (a label-selected watch whose events wake the environment), whether
it is pruned when no longer desired, and how its readiness is judged. The watch setup in
``main``, the prune in ``engine``, the LISTs in ``children``, the readiness waves in
``steps.workloads`` and the RBAC test all read this table; a new kind is a row here and a
builder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from devenv_operator import kinds
from devenv_operator.status import deployment_available

Readiness = Callable[[Mapping[str, Any]], bool]
StepName = Literal["config", "tenancy", "storage", "workloads", "expose"]


def applied(_: Mapping[str, Any]) -> bool:
    """Once the API server has it."""
    return True


def completed(job: Mapping[str, Any]) -> bool:
    """Run to completion: condition Complete=True (a job's dependents may start)."""
    return job_condition(job, "Complete")


def job_condition(job: Mapping[str, Any], ctype: str) -> bool:
    """Whether a Job's condition ``ctype`` (Complete, Failed) is True."""
    return any(c.get("type") == ctype and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def rolled_out(deployment: Mapping[str, Any]) -> bool:
    """Rolled out to its current spec, with every wanted replica available."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return deployment_available(deployment, int(replicas))


@dataclass(frozen=True)
class ChildKind:
    """How the operator handles one kind of child."""

    kind: kinds.Kind
    step: StepName  # the step that applies it
    watched: bool  # its changes wake the environment (else: seen at the periodic resync)
    pruned: bool = True  # deleted when the spec no longer wants it
    ready: Readiness = applied

    @property
    def name(self) -> str:
        return self.kind.kind


# Secrets are not watched: their watch is filtered to copy sources (shipit.dev/copyable),
# and a seeded Secret edited by hand is repaired at the next resync.
TABLE: tuple[ChildKind, ...] = (
    ChildKind(kinds.CONFIGMAP, "config", watched=True),
    ChildKind(kinds.SECRET, "config", watched=False),
    ChildKind(kinds.RESOURCEQUOTA, "tenancy", watched=False),
    ChildKind(kinds.LIMITRANGE, "tenancy", watched=False),
    ChildKind(kinds.NETWORKPOLICY, "tenancy", watched=False),
    ChildKind(kinds.ROLEBINDING, "tenancy", watched=False),
    # Not watched: a claim only changes by hand (repaired at the resync); its pods' readiness
    # is what the Deployment reports.
    ChildKind(kinds.PVC, "storage", watched=False),
    ChildKind(kinds.DEPLOYMENT, "workloads", watched=True, ready=rolled_out),
    ChildKind(kinds.SERVICE, "workloads", watched=True),
    # Named after a hash of its rendered spec: a changed job is a new Job, and the older
    # one is pruned (its pods go with it, in the background).
    ChildKind(kinds.JOB, "workloads", watched=True, ready=completed),
    # Exposed ports: watched, since the gateway (or ingress controller) reports in their
    # status whether it routes them. Their readiness is judged by ``status.endpoints``.
    ChildKind(kinds.HTTPROUTE, "expose", watched=True),
    ChildKind(kinds.INGRESS, "expose", watched=True),
)
BY_KIND = {row.name: row for row in TABLE}
WATCHED = tuple(row for row in TABLE if row.watched)
PRUNED = tuple(row for row in TABLE if row.pruned)


def of_step(step: StepName) -> tuple[ChildKind, ...]:
    return tuple(row for row in TABLE if row.step == step)


def is_ready(kind: str, obj: Mapping[str, Any] | None) -> bool:
    """Whether a child, as last observed, is ready by its kind's judgement."""
    return obj is not None and BY_KIND[kind].ready(obj)
