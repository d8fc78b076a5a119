"""The operator's long-lived state and the per-environment daemon loop.

``Controller`` owns the worker pools and the parts of a reconcile (constructed here, each
given its collaborators), the per-environment records, and the class and template indexes;
``serve`` is the loop each environment's Kopf daemon runs. ``main.py`` wires Kopf to it.
Pools, owners and invariants: docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import ctypes
import functools
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf

from devenv_operator import (
    classes,
    errors,
    kube,
    metrics,
    orphans,
    reconcile,
    records,
    status,
    templates,
)
from devenv_operator.children import ChildReader, namespace_of
from devenv_operator.engine import Applier
from devenv_operator.fanout import Fanout
from devenv_operator.reasons import Reason
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import EnvRecord, Source
from devenv_operator.settings import Settings
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.steps import Parts
from devenv_operator.teardown import Teardown
from devenv_operator.transitions import Event

T = TypeVar("T")
log = logging.getLogger("devenv_operator")


@dataclass
class Loop:
    """The event loop's slice of an environment's record (touched on the loop only)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: reconcile (or re-check)
    seen: tuple[Any, ...] | None = None  # what the last reconcile was started for
    phase: str | None = None  # for the per-phase gauge
    copy_sources: frozenset[Source] = frozenset()  # Secrets whose changes wake it
    last_error: str | None = None  # the last Warning posted for a failed run, not repeated


def loop_of(record: EnvRecord) -> Loop:
    return record.part(Loop)


class Controller:
    """Operator-wide state shared by the handlers (kept in Kopf's memo).

    Per-environment state lives in ``records`` only; the pools are listed in
    docs/architecture.md. Methods run on the event loop unless they say otherwise.
    """

    def __init__(self, settings: Settings, api: kube.Kube, health: metrics.Health,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.health = health
        self.records = records.Records()
        # Reconciles and teardowns (blocking client calls) run here, never on the loop.
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="kube")
        self.fanout = Fanout(settings.workers)
        self.events = EventRecorder(api)

        self.phases: Counter[str] = Counter()  # environments per phase, for the gauge

        def status_lost(record: records.EnvRecord) -> None:  # from a status thread
            loop.call_soon_threadsafe(loop_of(record).wake.set)

        self.statuses = StatusWriter(api, on_lost=status_lost)
        self.children = ChildReader(api, self.fanout, self.records,
                                    resync_seconds=settings.resync_interval.total_seconds())
        self.classes = classes.ClassIndex()
        self.templates = templates.TemplateIndex()
        self.reconciler = reconcile.Reconciler(
            Parts(api=api, settings=settings, children=self.children,
                  applier=Applier(api, self.children), fanout=self.fanout,
                  records=self.records, classes=self.classes, templates=self.templates,
                  random=reconcile.random_value),
            self.statuses, self.events)
        self.api = api
        self.teardown = Teardown(api, statuses=self.statuses, children=self.children,
                                 events=self.events, namespace_prefix=settings.namespace_prefix,
                                 clock=reconcile.utcnow)
        self.heartbeat: asyncio.Task[None] | None = None
        self.sweeper: asyncio.Task[None] | None = None

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call on the ``kube`` pool; its progress feeds liveness."""
        loop = asyncio.get_running_loop()
        self.health.started()
        try:
            return await loop.run_in_executor(self.executor, fn, *args)
        finally:
            self.health.finished()

    def record(self, body: Mapping[str, Any]) -> records.EnvRecord:
        meta = body["metadata"]
        return self.records.open(meta["uid"], meta["name"])

    def wake(self, index: str, key: Any) -> None:
        """Reconcile soon the environments filed under ``key`` in a records index."""
        for record in self.records.tagged(index, key):
            loop_of(record).wake.set()

    def set_phase(self, record: records.EnvRecord, phase: str | None) -> None:
        state = loop_of(record)
        if state.phase == phase:
            return
        self._count(state.phase, -1)
        self._count(phase, +1)
        state.phase = phase
        metrics.set_phases(self.phases)

    def _count(self, phase: str | None, delta: int) -> None:
        if phase is not None:
            self.phases[phase] += delta
            if self.phases[phase] <= 0:
                del self.phases[phase]

    def forget(self, uid: str) -> None:
        """The environment is gone from the API: end its record."""
        record = self.records.close(uid)
        if record is not None:
            self.set_phase(record, None)

    def close(self) -> None:
        """Stop our own background work (queued Events and status writes are dropped)."""
        for task in (self.heartbeat, self.sweeper):
            if task is not None:
                task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for part in (self.fanout, self.events, self.statuses):
            part.close()

    async def serve(self, body: kopf.Body, stopped: kopf.DaemonStopped,
                    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        """Reconcile one environment until it is deleted or the operator stops."""
        record = self.record(body)
        state = loop_of(record)
        backoff = 1.0
        while not stopped:
            state.wake.clear()
            if body["metadata"].get("deletionTimestamp"):
                return
            state.seen = identity(body)
            # A copy of the body lives only as long as one reconcile: kept through the
            # sleep, 1,000 of them were a fifth of the operator's memory.
            wait = await self._reconcile_once(record, copy.deepcopy(dict(body)), logger,
                                              backoff)
            backoff = 1.0 if wait > 0 else min(backoff * 2, 60.0)
            await _sleep(state.wake, stopped, wait if wait > 0 else backoff)

    async def _reconcile_once(self, record: records.EnvRecord, snapshot: dict[str, Any],
                              logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
                              backoff: float) -> float:
        """One reconcile; returns the requeue delay, or 0 to back off after an error."""
        started = time.monotonic()
        try:
            outcome = await self.blocking(self.reconciler.reconcile, snapshot, record)
        except errors.KubeError as exc:
            metrics.RECONCILES.labels("retry").inc()
            logger.warning("Reconcile of %s failed, retrying in %.0fs: %s", record.name,
                           backoff, exc)
            reason = Reason.FORBIDDEN if isinstance(exc, errors.Forbidden) else Reason.API_ERROR
            await self._report_failure(record, snapshot, reason,
                                       f"Reconcile failed (retrying): {exc}")
            return 0
        except Exception as exc:
            metrics.RECONCILES.labels("error").inc()
            metrics.UNEXPECTED_ERRORS.inc()
            logger.exception("Reconcile of %s crashed, retrying in %.0fs", record.name, backoff)
            # Only the kind of error and where: a bug's message could quote anything.
            await self._report_failure(record, snapshot, Reason.RECONCILE_ERROR,
                                       f"Reconcile failed (retrying): internal error "
                                       f"{type(exc).__name__} at {_where(exc)}")
            return 0
        finally:
            metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        metrics.RECONCILES.labels("success").inc()
        state = loop_of(record)
        state.last_error = None
        if state.copy_sources != outcome.copy_sources:
            state.copy_sources = outcome.copy_sources
            self.records.tag(record, records.COPIES, outcome.copy_sources)
        self.set_phase(record, outcome.status.get("phase"))
        record_outcome(outcome)
        return max(outcome.requeue_after, 0.05)

    async def _report_failure(self, record: records.EnvRecord, snapshot: dict[str, Any],
                              reason: str, message: str) -> None:
        """Say why a run failed: in the status (condition Reconciled) and, once per distinct
        error, as a Warning Event, so that `kubectl describe` shows why it is stuck."""
        now = reconcile.utcnow()
        previous = self.statuses.previous(record, snapshot)
        new = status.run_failed(previous, reason, message, now,
                                int(snapshot["metadata"].get("generation", 1)))
        if new != previous:
            self.statuses.submit(record, previous, new, retry_on_failure=False)
        state = loop_of(record)
        if state.last_error == message:
            return
        state.last_error = message
        self.events.post(snapshot, [Event("Warning", reason, message)], at=now,
                         namespace=namespace_of(record))


def record_outcome(outcome: reconcile.Outcome) -> None:
    for event in outcome.events:
        if event.type == "Warning" and event.reason in status.FAILED_REASONS:
            metrics.FAILURES.labels(event.reason).inc()
    if outcome.ready_after is not None:
        metrics.TIME_TO_READY.observe(outcome.ready_after)
    for step, seconds in outcome.steps.items():
        metrics.STEP_DURATION.labels(step).observe(seconds)


def _where(exc: BaseException) -> str:
    """``module.py:line`` of the innermost frame of a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


async def _sleep(trigger: asyncio.Event, stopped: kopf.DaemonStopped, timeout: float) -> None:
    waiters = {asyncio.ensure_future(trigger.wait()), asyncio.ensure_future(stopped.wait())}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def identity(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, when it changes, calls for a reconcile (not our own status writes)."""
    meta = body.get("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("kopf.")}
    return (meta.get("generation"), tuple(sorted(annotations.items())),
            bool(meta.get("deletionTimestamp")))


async def heartbeat(controller: Controller) -> None:
    """The event loop ticks; the worker pool's progress is tracked by ``blocking`` itself,
    so a pool that is busy (not stuck) under load never fails the liveness probe. Once a
    minute, when nothing is in flight, freed heap goes back to the system."""
    trimmed = time.monotonic()
    while True:
        controller.health.beat()
        controller.health.mark_ready()
        if controller.health.idle() and time.monotonic() - trimmed >= 60:
            trimmed = time.monotonic()
            _trim_heap()
        await asyncio.sleep(5)


async def sweep_orphans(controller: Controller, interval: float) -> None:
    """Once per ``interval``: delete the namespaces of environments that are gone without
    their teardown (``orphans``). A failed sweep is logged and tried again next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            await controller.blocking(orphans.sweep, controller.api)
        except Exception:
            log.exception("Looking for left-behind namespaces failed; trying again in %.0fs",
                          interval)


def _trim_heap() -> None:
    """Give freed heap back to the system (glibc keeps it after a burst; RSS would ratchet
    up with every burst of environments). A no-op where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim
