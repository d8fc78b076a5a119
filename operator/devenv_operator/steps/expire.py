"""Step: delete an environment whose expiry has come; the usual teardown follows.

Runs before ``admit``: an invalid or refused environment expires too. Deleting is guarded
by the environment's UID (never a re-created one of the same name).
"""

from __future__ import annotations

import logging

from devenv_operator import kube, metrics, status
from devenv_operator.reasons import Reason
from devenv_operator.steps.context import Context, Parts, Stop
from devenv_operator.transitions import Event

log = logging.getLogger("devenv_operator.reconcile")


def expire(parts: Parts, ctx: Context) -> Stop | None:
    expires_at = ctx.expiry.at
    if expires_at is None or ctx.now < expires_at:
        return None
    meta = ctx.meta
    lateness = max((ctx.now - expires_at).total_seconds(), 0.0)
    expired = Event("Normal", Reason.EXPIRED, (
        f"Expired at {status.rfc3339(expires_at)}; deleting the environment "
        f"and namespace {ctx.previous.get('namespace') or ''}").rstrip())
    if parts.api.delete(kube.DEVENV, meta["name"], uid=meta["uid"]):
        log.info("DevEnvironment %s expired %.2fs ago; deleting it", meta["name"], lateness)
        ctx.events.append(expired)
        metrics.EXPIRATIONS.inc()
        metrics.EXPIRY_LATENESS.observe(lateness)
    return Stop("expired", final=True)
