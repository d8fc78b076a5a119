"""Kopf wiring only: settings at startup, and handlers that call the reconciler.

Each DevEnvironment gets one Kopf daemon: a loop that reconciles, then sleeps until
something relevant happens (its spec changes, one of its Deployments changes, a copied
Secret changes) or a deadline comes (readiness timeout, periodic resync). Blocking API
calls run in a thread pool, never on the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import copy
import ctypes
import functools
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import kopf

from devenv_operator import (
    builders,
    classes,
    errors,
    kube,
    metrics,
    models,
    reconcile,
    records,
    status,
    templates,
)
from devenv_operator.children import ChildReader
from devenv_operator.engine import Applier
from devenv_operator.fanout import Fanout
from devenv_operator.logs import configure_logging
from devenv_operator.recorder import EventRecorder
from devenv_operator.settings import Settings, SettingsError, describe, load
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.teardown import Teardown
from devenv_operator.transitions import Event

FINALIZER = "shipit.dev/teardown"
KOPF_STATUS = "kopf"  # status.kopf: Kopf's bookkeeping; see StatusWriter.previous
# Kopf's own client (watch streams, finalizer patches) opens connections without limit by
# default: a burst of 1,000 new environments meant hundreds of TLS connections at once, and
# the memory they took stayed with the process. Its 5 watch streams each hold one.
KOPF_CONNECTIONS = 16
T = TypeVar("T")
log = logging.getLogger("devenv_operator")


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

        def status_lost(record: records.EnvRecord) -> None:  # from a status thread
            loop.call_soon_threadsafe(record.wake.set)

        self.statuses = StatusWriter(api, on_lost=status_lost)
        self.children = ChildReader(api, self.fanout,
                                    resync_seconds=settings.seconds("resync_interval"))
        self.classes = classes.ClassIndex()
        self.templates = templates.TemplateIndex()
        self.reconciler = reconcile.Reconciler(
            api, settings, children=self.children, applier=Applier(api, self.children),
            statuses=self.statuses, events=self.events, fanout=self.fanout,
            records=self.records, class_index=self.classes, template_index=self.templates)
        self.api = api
        self.teardown = Teardown(api, statuses=self.statuses, children=self.children,
                                 events=self.events, namespace_prefix=settings.namespace_prefix,
                                 clock=reconcile.utcnow)
        self.heartbeat: asyncio.Task[None] | None = None

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

    def wake(self, name: str | None) -> None:
        """Reconcile the environment of this name soon (a child of it changed)."""
        for record in self.records.named(name or ""):
            record.wake.set()

    def set_phase(self, record: records.EnvRecord, phase: str | None) -> None:
        record.phase = phase
        metrics.set_phases(self.records.phase_counts())

    def forget(self, uid: str) -> None:
        """The environment is gone from the API: end its record."""
        if self.records.close(uid) is not None:
            metrics.set_phases(self.records.phase_counts())

    def close(self) -> None:
        """Stop our own background work (queued Events and status writes are dropped)."""
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for part in (self.fanout, self.events, self.statuses):
            part.close()

    async def serve(self, body: kopf.Body, stopped: kopf.DaemonStopped,
                    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        """Reconcile one environment until it is deleted or the operator stops."""
        record = self.record(body)
        backoff = 1.0
        while not stopped:
            record.wake.clear()
            if body["metadata"].get("deletionTimestamp"):
                return
            record.seen = _identity(body)
            # A copy of the body lives only as long as one reconcile: kept through the
            # sleep, 1,000 of them were a fifth of the operator's memory.
            wait = await self._reconcile_once(record, copy.deepcopy(dict(body)), logger,
                                              backoff)
            backoff = 1.0 if wait > 0 else min(backoff * 2, 60.0)
            await _sleep(record.wake, stopped, wait if wait > 0 else backoff)

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
            reason = "Forbidden" if isinstance(exc, errors.Forbidden) else "ApiError"
            await self._report_failure(record, snapshot, reason,
                                       f"Reconcile failed (retrying): {exc}")
            return 0
        except Exception as exc:
            metrics.RECONCILES.labels("error").inc()
            metrics.UNEXPECTED_ERRORS.inc()
            logger.exception("Reconcile of %s crashed, retrying in %.0fs", record.name, backoff)
            # Only the kind of error and where: a bug's message could quote anything.
            await self._report_failure(record, snapshot, "ReconcileError",
                                       f"Reconcile failed (retrying): internal error "
                                       f"{type(exc).__name__} at {_where(exc)}")
            return 0
        finally:
            metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
        metrics.RECONCILES.labels("success").inc()
        record.last_error = None
        record.copy_sources = outcome.copy_sources
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
        if record.last_error == message:
            return
        record.last_error = message
        self.events.post(snapshot, [Event("Warning", reason, message)], at=now,
                         namespace=record.namespace)


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


def _identity(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What, when it changes, calls for a reconcile (not our own status writes)."""
    meta = body.get("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("kopf.")}
    return (meta.get("generation"), tuple(sorted(annotations.items())),
            bool(meta.get("deletionTimestamp")))


def _controller(memo: kopf.Memo) -> Controller:
    controller: Controller = memo["controller"]
    return controller


# -- handlers ------------------------------------------------------------------------------


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Settings = memo["settings"]
    settings.persistence.finalizer = FINALIZER
    # Progress of the teardown handler lives in status, which only the operator may write:
    # in an annotation, anyone allowed to edit the object could mark teardown as done and
    # have the finalizer released with the namespace still there.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(name=KOPF_STATUS)
    # We have no update handlers (the daemon reconciles from the live body), so Kopf needs no
    # copy of the spec; keeping it out also keeps literal Secret values out of annotations.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.shipit.dev", key="last-handled-configuration", ignored_fields=["spec"])
    settings.posting.enabled = False  # we post our own, meaningful Events
    settings.scanning.disabled = True  # no need to watch CRDs (and no RBAC for it)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    managed = f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY_VALUE}"
    for group, plural in CHILD_WATCHES:
        settings.watching.label_selectors[group, plural] = managed
    settings.watching.label_selectors["v1", "secrets"] = f"{builders.COPYABLE_LABEL}=true"
    # Connections for the reconcile threads and for the parallel applies within them.
    api = kube.Kube(kube.load_api_client(pool_size=2 * config.workers),
                    on_request=metrics.api_request)
    loop = asyncio.get_running_loop()
    controller = Controller(config, api, memo["health"], loop)
    memo["controller"] = controller
    metrics.set_phases({})
    controller.heartbeat = loop.create_task(_heartbeat(controller))
    log.info("devenv-operator started (namespace prefix %r, %d workers)",
             config.namespace_prefix, config.workers)


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """Kopf's usual credentials (from the kubernetes client), on a bounded connection pool."""
    # It reads the kubeconfig (and may run its credential plugin): not on the event loop.
    info = await asyncio.to_thread(kopf.login_via_client, **kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=KOPF_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(), trust_env=info.trust_env, proxy=info.proxy_url)
    return kopf.AiohttpSession(aiohttp_session=session, server=info.server,
                               default_namespace=info.default_namespace,
                               expiration=info.expiration)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop our own background work, so that Kopf does not wait for it as a hung task."""
    _controller(memo).close()


async def _heartbeat(controller: Controller) -> None:
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


@kopf.daemon(models.GROUP, models.VERSION, models.PLURAL,  # type: ignore[arg-type]
             cancellation_backoff=5.0, cancellation_timeout=10.0)
async def environment(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo,
                      logger: logging.Logger, **_: Any) -> None:
    await _controller(memo).serve(body, stopped, logger)


@kopf.on.event(models.GROUP, models.VERSION, models.PLURAL)
async def environment_event(body: kopf.Body, type: str | None, memo: kopf.Memo,
                            **_: Any) -> None:
    controller = _controller(memo)
    if type == "DELETED":
        controller.forget(body["metadata"]["uid"])
        return
    record = controller.record(body)
    controller.set_phase(record, (body.get("status") or {}).get("phase"))
    if record.seen != _identity(body):
        record.wake.set()


def _child_handler(kind: str) -> Callable[..., Any]:
    async def child_event(event: Mapping[str, Any], labels: Mapping[str, str],
                          namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        """A child changed (readiness, hand edits, deletion): remember it, then reconcile
        its environment (in that order: the reconcile reads the cache)."""
        controller = _controller(memo)
        obj = event.get("object") or {}
        environment = labels.get(builders.ENVIRONMENT_LABEL) or ""
        # Anyone may label an object as ours: remember only children of live environments,
        # in their own namespace.
        if not controller.records.serves(environment, namespace or ""):
            return
        if event.get("type") == "DELETED":
            controller.children.cache.remove(kind, obj)
        else:
            controller.children.cache.put(kind, obj)
        controller.wake(environment)
    return child_event


# Children whose changes we watch (server-side filtered to our label). Secrets are not here:
# their watch is filtered to copy sources; seeded Secrets are repaired by the periodic resync.
CHILD_WATCHES = (("apps", "deployments"), ("v1", "services"), ("v1", "configmaps"))
_CHILD_KINDS = {"deployments": kube.DEPLOYMENT.kind, "services": kube.SERVICE.kind,
                "configmaps": kube.CONFIGMAP.kind}
for _group, _plural in CHILD_WATCHES:
    kopf.on.event(_group, _plural, id=f"{_plural}-event", labels={
        builders.MANAGED_BY_LABEL: builders.MANAGED_BY_VALUE,
    })(_child_handler(_CHILD_KINDS[_plural]))


@kopf.on.event(models.GROUP, models.VERSION, classes.PLURAL)
async def class_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A class changed: remember it, and converge every environment it (now) applies to."""
    controller = _controller(memo)
    name = body["metadata"]["name"]
    if type == "DELETED":
        controller.classes.remove(name)
    else:
        controller.classes.put(name, body.get("spec") or {},
                               body["metadata"].get("annotations") or {})
    # Its environments, and those of no class yet (it may have become the default one).
    for record in [*controller.records.in_class(name), *controller.records.in_class(None)]:
        record.wake.set()


# Environments re-rendered per second after a template edit: a template used by hundreds of
# environments must not flood the apiserver with their writes all at once.
TEMPLATE_RERENDERS_PER_SECOND = 10.0


@kopf.on.event(models.GROUP, models.VERSION, templates.PLURAL)
async def template_event(body: kopf.Body, type: str | None, memo: kopf.Memo,
                         **_: Any) -> None:
    """A template changed: remember it, say whether it is valid, and re-render every
    environment made from it, a few per second."""
    controller = _controller(memo)
    meta = body["metadata"]
    name, generation = meta["name"], int(meta.get("generation", 1))
    if type == "DELETED":
        controller.templates.remove(name)
    else:
        known = controller.templates.get(name)
        controller.templates.put(name, body.get("spec") or {}, generation)
        checked = (body.get("status") or {}).get("observedGeneration")
        if checked != generation:
            try:
                await controller.blocking(_write_template_status, controller.api, name,
                                          body.get("spec") or {}, generation)
            except errors.KubeError as exc:  # its environments still say what is wrong
                log.warning("Cannot write the status of DevEnvironmentTemplate %s: %s",
                            name, exc)
        if known is not None and known.generation == generation:
            return  # our own status write, or a resync: nothing to re-render
    loop = asyncio.get_running_loop()
    for i, record in enumerate(controller.records.from_template(name)):
        loop.call_later(i / TEMPLATE_RERENDERS_PER_SECOND, record.wake.set)


def _write_template_status(api: kube.Kube, name: str, spec: Mapping[str, Any],
                           generation: int) -> None:
    """Condition Valid on a template: whether it renders with its defaults (blocking)."""
    problems = templates.check_template(spec)
    condition = {"type": "Valid", "status": "False" if problems else "True",
                 "reason": "TemplateInvalid" if problems else "TemplateValid",
                 "message": "; ".join(problems)[:1024] if problems else
                 "Renders into a valid DevEnvironment spec with its defaults",
                 "lastTransitionTime": status.rfc3339(reconcile.utcnow()),
                 "observedGeneration": generation}
    api.patch(kube.TEMPLATE, name, {"status": {"observedGeneration": generation,
                                               "conditions": [condition]}},
              subresource="status")


@kopf.on.event("v1", "secrets")
async def copyable_secret_event(namespace: str | None, name: str | None, memo: kopf.Memo,
                                **_: Any) -> None:
    # The watch is filtered server-side to shipit.dev/copyable=true; removing the label
    # arrives here as a deletion, which is exactly when copies must be revisited.
    for record in _controller(memo).records.copying((namespace or "", name or "")):
        record.wake.set()


@kopf.on.delete(models.GROUP, models.VERSION, models.PLURAL)  # type: ignore[arg-type]
async def teardown(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, retry: int,
                   **_: Any) -> None:
    """Delete the namespace, then wait for it to be gone before releasing the finalizer.

    The operator may not watch namespaces (least privilege: it never lists them), so it
    re-reads this one, gently and less often as time goes on (the namespace controller
    takes seconds to minutes); the watched children disappearing wakes it early, since
    the namespace goes right after its content.
    """
    controller = _controller(memo)
    snapshot = copy.deepcopy(dict(body))
    record = controller.record(snapshot)  # the daemon has stopped (or will): its wake is ours
    deadline = time.monotonic() + 30
    delay = TEARDOWN_FIRST_POLL if retry == 0 else TEARDOWN_MAX_POLL  # a slow one stays slow
    while True:
        record.wake.clear()
        try:
            blocked = await controller.blocking(controller.teardown.run, snapshot, record)
        except errors.KubeError as exc:
            raise kopf.TemporaryError(f"teardown failed: {exc}", delay=5) from exc
        if blocked is None:
            started = status.parse_time(snapshot["metadata"].get("deletionTimestamp"))
            if started is not None:
                metrics.TEARDOWN_DURATION.observe(
                    max((reconcile.utcnow() - started).total_seconds(), 0.0))
            logger.info("Namespace of %s is gone; releasing it", record.name)
            return
        if time.monotonic() > deadline:  # let Kopf record the wait, then call us again
            raise kopf.TemporaryError(blocked, delay=1)
        if await _woken_within(record.wake, delay):
            await asyncio.sleep(TEARDOWN_FIRST_POLL)  # the rest of the content goes too
        else:
            delay = min(delay * 1.5, TEARDOWN_MAX_POLL)


TEARDOWN_FIRST_POLL = 0.5
TEARDOWN_MAX_POLL = 5.0


async def _woken_within(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


# -- entry point ---------------------------------------------------------------------------


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devenv-operator",
        description="Run the DevEnvironment operator against the current kubeconfig context "
                    "(in-cluster credentials when run in a pod).",
        epilog="Settings (environment variables):\n" + "\n".join(
            f"  {name:<30} default {default:<8} {text}" for name, default, text in describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    try:
        config = load(os.environ)
    except SettingsError as exc:
        print(f"devenv-operator: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_format, config.log_level)
    health = metrics.Health()
    if config.metrics_port:
        try:
            metrics.serve(config.metrics_port, health)
        except OSError as exc:
            print(f"devenv-operator: cannot serve metrics on port {config.metrics_port}: {exc}",
                  file=sys.stderr)
            return 1
    peering: dict[str, Any] = (
        {"standalone": True} if config.peering is None
        else {"standalone": False, "peering_name": config.peering})
    kopf.run(clusterwide=True, memo=kopf.Memo(settings=config, health=health), **peering)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
