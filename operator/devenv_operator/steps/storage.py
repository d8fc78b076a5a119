"""Step: start applying the PersistentVolumeClaims of the services' and jobs' persistent
volumes.

Claims go out before the workloads and do not wait for dependencies: a claim holds no
process, and one bound early saves its pod the wait. ``settle`` collects the applies; a
refused claim (a size the StorageClass cannot give, a shrink) is an ApplyFailed condition
naming it.
"""

from __future__ import annotations

from devenv_operator import builders, kinds, models
from devenv_operator.steps.config import start
from devenv_operator.steps.context import Context, Parts, Stop


def storage(parts: Parts, ctx: Context) -> Stop | None:
    env = ctx.environment()
    workloads: list[models.Service | models.Job] = [*env.spec.services, *env.spec.jobs]
    claims = [(kinds.PVC, claim) for workload in workloads
              for claim in builders.build_volume_claims(env, workload)]
    start(parts, ctx, "storage", claims)
    return None
