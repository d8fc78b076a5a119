"""Step: read the environment's children (from the cache; LISTed when due)."""

from __future__ import annotations

from devenv_operator.steps.context import Context, Parts, Stop


def observe(parts: Parts, ctx: Context) -> Stop | None:
    ctx.children = parts.children.observe(ctx.record, ctx.environment(),
                                          fresh=ctx.fresh_namespace, now=ctx.now)
    return None
