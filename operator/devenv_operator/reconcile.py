"""One level-triggered reconcile of a DevEnvironment: the steps of ``steps.STEPS``, then
its status, computed and written once.

Every run recomputes every child from the spec and converges the cluster towards it,
writing only what differs; it is safe to run at any time, any number of times, after any
crash: the state lives in the cluster (the children and ``.status``). The steps say what
to do; this module runs them, computes the status from what they observed
(``status.compute``, pure), hands it to the ``StatusWriter``, posts the run's Events and
decides when to look again. Blocking: called from a worker thread.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devenv_operator import errors, status
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import EnvRecord, Source
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.steps import STEPS, Context, Parts, Step
from devenv_operator.transitions import (
    Event,
    change_events,
    requeue_after,
    timings,
    transition_events,
    worth_an_event,
)

log = logging.getLogger("devenv_operator.reconcile")

Clock = Callable[[], datetime]
_ALPHABET = string.ascii_letters + string.digits


def random_value(length: int) -> str:
    """Cryptographically random alphanumeric text."""
    return "".join(pysecrets.choice(_ALPHABET) for _ in range(length))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What one reconcile decided."""

    status: dict[str, Any]
    requeue_after: float
    copy_sources: frozenset[Source] = frozenset()
    events: list[Event] = field(default_factory=list)
    ready_after: float | None = None  # seconds from provisioning start, when it became Ready
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds, when done now


class Reconciler:
    """Converges DevEnvironments; one instance per operator, shared by all worker threads."""

    def __init__(self, parts: Parts, statuses: StatusWriter, events: EventRecorder, *,
                 clock: Clock = utcnow,
                 steps: Sequence[tuple[str, Step]] = STEPS) -> None:
        self.parts = parts
        self.statuses = statuses
        self.events = events
        self.clock = clock
        self.steps = tuple(steps)

    def reconcile(self, body: Mapping[str, Any], record: EnvRecord) -> Outcome:
        try:
            self.statuses.raise_failed(record)  # the caller backs off and reports it
            return self._reconcile(body, record)
        except errors.KubeError:
            self.parts.children.invalidate(record)  # something unexpected: read the cluster
            raise

    def _reconcile(self, body: Mapping[str, Any], record: EnvRecord) -> Outcome:
        ctx = Context(body, record, self.clock(), self.statuses.previous(record, body))
        for name, step in self.steps:
            stop = step(self.parts, ctx)
            if stop is None:
                continue
            log.debug("Reconcile of %s stopped at %s: %s", record.name, name, stop.why)
            if stop.final:
                return self._final(ctx)
            break
        return self._finish(ctx)

    def _final(self, ctx: Context) -> Outcome:
        """The environment is gone (expired): its Events now, no status to write."""
        for event in ctx.events:
            self.events.post_now(ctx.body, event)
        return Outcome(ctx.previous, self.parts.settings.resync_interval.total_seconds(),
                       events=ctx.events)

    def _finish(self, ctx: Context) -> Outcome:
        """Compute and write the status (once), post the run's Events, pick the requeue."""
        obs, previous, now = ctx.obs, ctx.previous, ctx.now
        new = status.compute(obs, previous, now).as_dict()
        events = [*ctx.events, *change_events(c for c in ctx.run.changes if worth_an_event(c)),
                  *transition_events(previous, new, now, ctx.meta)]
        if new != previous:
            self.statuses.submit(ctx.record, previous, new)
        # In the environment's namespace once it is there: its owner can read them there.
        self.events.post(ctx.body, events, at=now,
                         namespace=obs.namespace if obs.namespace_state == "ready" else None)
        ready_after, steps = timings(previous, new, now)
        expiry = ctx.expiry
        deadlines = [status.ready_deadline(obs, new), expiry.at]
        if expiry.warn_at is not None and expiry.warn_at > now:
            deadlines.append(expiry.warn_at)
        settings = self.parts.settings
        wait = requeue_after(
            phase=new["phase"], reason=new["conditions"][0]["reason"],
            namespace_terminating=obs.namespace_state == "terminating", now=now,
            deadlines=deadlines, resync=settings.resync_interval.total_seconds(),
            provisioning_recheck=settings.provisioning_recheck.total_seconds())
        return Outcome(new, wait, ctx.copy_sources, events, ready_after, steps)
