"""Step: start applying what the class puts in every namespace (quota, limits, network
policy, the owner's RoleBinding).

``settle`` collects the applies.
"""

from __future__ import annotations

from devenv_operator import builders, kinds
from devenv_operator.steps.config import start
from devenv_operator.steps.context import Context, Parts, Stop


def tenancy(parts: Parts, ctx: Context) -> Stop | None:
    objects = [(kinds.KINDS[obj["kind"]], obj)
               for obj in builders.build_class_objects(ctx.environment())]
    start(parts, ctx, "tenancy", objects)
    return None
