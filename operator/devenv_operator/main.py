"""Kopf wiring only: settings at startup, and handlers that call the reconciler.

Each DevEnvironment gets one Kopf daemon: a loop that reconciles, then sleeps until
something relevant happens (its spec changes, one of its Deployments changes, a copied
Secret changes) or a deadline comes (readiness timeout, periodic resync). Blocking API
calls run in a thread pool, never on the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import kopf

from devenv_operator import (
    builders,
    childkinds,
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
from devenv_operator.controller import Controller, heartbeat, identity, loop_of, sweep_orphans
from devenv_operator.logs import configure_logging
from devenv_operator.reasons import Reason
from devenv_operator.settings import Settings, SettingsError, describe, load

FINALIZER = "shipit.dev/teardown"
KOPF_STATUS = "kopf"  # status.kopf: Kopf's bookkeeping; see StatusWriter.previous
# Kopf's own client (watch streams, finalizer patches) opens connections without limit by
# default: a burst of 1,000 new environments meant hundreds of TLS connections at once, and
# the memory they took stayed with the process. Its 5 watch streams each hold one.
KOPF_CONNECTIONS = 16
log = logging.getLogger("devenv_operator")


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
    for row in childkinds.WATCHED:
        settings.watching.label_selectors[_resource(row.kind)] = managed
    settings.watching.label_selectors["v1", "secrets"] = f"{builders.COPYABLE_LABEL}=true"
    # Connections for the reconcile threads and for the parallel applies within them.
    api = kube.Kube(kube.load_api_client(pool_size=2 * config.workers),
                    on_request=metrics.api_request)
    loop = asyncio.get_running_loop()
    controller = Controller(config, api, memo["health"], loop)
    memo["controller"] = controller
    metrics.set_phases({})
    controller.heartbeat = loop.create_task(heartbeat(controller))
    controller.sweeper = loop.create_task(
        sweep_orphans(controller, config.resync_interval.total_seconds()))
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
    state = loop_of(record)
    if state.seen != identity(body):
        state.wake.set()


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
        controller.wake(records.HOME, (environment, namespace or ""))
    return child_event


def _resource(kind: kube.Kind) -> tuple[str, str]:
    """Kopf's (group, plural) of a kind ("v1" for the core group)."""
    return (kind.api_version.split("/")[0] if "/" in kind.api_version else "v1", kind.plural)


# Children whose changes we watch (childkinds.WATCHED; server-side filtered to our label).
for _row in childkinds.WATCHED:
    kopf.on.event(*_resource(_row.kind), id=f"{_row.kind.plural}-event", labels={
        builders.MANAGED_BY_LABEL: builders.MANAGED_BY_VALUE,
    })(_child_handler(_row.name))


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
    controller.wake(records.CLASS, name)
    controller.wake(records.CLASS, None)


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
    for i, record in enumerate(controller.records.tagged(records.TEMPLATE, name)):
        loop.call_later(i / TEMPLATE_RERENDERS_PER_SECOND, loop_of(record).wake.set)


def _write_template_status(api: kube.Kube, name: str, spec: Mapping[str, Any],
                           generation: int) -> None:
    """Condition Valid on a template: whether it renders with its defaults (blocking)."""
    problems = templates.check_template(spec)
    condition = {"type": "Valid", "status": "False" if problems else "True",
                 "reason": Reason.TEMPLATE_INVALID if problems else Reason.TEMPLATE_VALID,
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
    _controller(memo).wake(records.COPIES, (namespace or "", name or ""))


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
    wake = loop_of(record).wake
    deadline = time.monotonic() + 30
    delay = TEARDOWN_FIRST_POLL if retry == 0 else TEARDOWN_MAX_POLL  # a slow one stays slow
    while True:
        wake.clear()
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
        if await _woken_within(wake, delay):
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
