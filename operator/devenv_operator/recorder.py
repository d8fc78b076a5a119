"""Kubernetes Events, posted off the reconcile thread on a small pool of their own.

Events are best effort (the status carries the same facts) and nothing waits for them, so
they get two threads (``events-N``) and are timestamped when they happen, not when posted:
in a burst they queue behind one another instead of delaying the applies. Queued Events
are dropped when the operator stops.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from devenv_operator import kube, metrics
from devenv_operator.transitions import Event

WORKERS = 2
# Events waiting to be posted, at most; beyond it new ones are dropped (and counted):
# they are best effort, and an apiserver that cannot take them must not cost memory.
MAX_PENDING = 1000


class EventRecorder:
    """Posts Events about DevEnvironments."""

    def __init__(self, api: kube.Kube, workers: int = WORKERS,
                 max_pending: int = MAX_PENDING) -> None:
        self._api = api
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="events")
        self._room = threading.BoundedSemaphore(max_pending)

    def post(self, body: Mapping[str, Any], events: Iterable[Event], at: datetime,
             namespace: str | None = None) -> None:
        """Queue Events that happened at ``at``; returns at once (drops them when full).

        Recorded in the environment's own ``namespace``, where its owner can read them;
        only without one (refused, invalid, not created yet, going) in ``default``, where
        ``kubectl describe devenv`` finds Events about a cluster-scoped object. Not in both:
        whoever may read Events in ``default`` would read every environment's.
        """
        involved = _in(body, namespace)
        for event in events:
            if not self._room.acquire(blocking=False):
                metrics.EVENTS_DROPPED.inc()
                continue
            future = self._pool.submit(self._api.event, involved, event.type, event.reason,
                                       event.message, at=at)
            future.add_done_callback(lambda _: self._room.release())

    def post_now(self, body: Mapping[str, Any], event: Event,
                 namespace: str | None = None) -> None:
        """Post one Event and wait for it (blocking; from a worker thread)."""
        self._api.event(_in(body, namespace), event.type, event.reason, event.message)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _in(body: Mapping[str, Any], namespace: str | None) -> Mapping[str, Any]:
    """The DevEnvironment as an Event in ``namespace`` refers to it: the API server accepts
    an Event outside ``default`` only when its involvedObject names that namespace."""
    if namespace is None:
        return body
    return {**body, "metadata": {**body["metadata"], "namespace": namespace}}
