"""Step: delete the children no step kept this run (only that very object: by UID)."""

from __future__ import annotations

from devenv_operator.steps.context import Context, Parts, Stop


def prune(parts: Parts, ctx: Context) -> Stop | None:
    parts.applier.prune(ctx.run, ctx.environment().namespace, ctx.children)
    return None
