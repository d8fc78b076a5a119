"""Kubernetes Events, posted off the reconcile thread on a small pool of their own.

Events are best effort (the status carries the same facts) and nothing waits for them, so
they get two threads (``events-N``) and are timestamped when they happen, not when posted:
in a burst they queue behind one another instead of delaying the applies. Queued Events
are dropped when the operator stops.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from devenv_operator import kube
from devenv_operator.transitions import Event

WORKERS = 2


class EventRecorder:
    """Posts Events about DevEnvironments."""

    def __init__(self, api: kube.Kube, workers: int = WORKERS) -> None:
        self._api = api
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="events")

    def post(self, body: Mapping[str, Any], events: Iterable[Event], at: datetime) -> None:
        """Queue Events that happened at ``at``; returns at once."""
        for event in events:
            self._pool.submit(self._api.event, body, event.type, event.reason, event.message,
                              at=at)

    def post_now(self, body: Mapping[str, Any], event: Event) -> None:
        """Post one Event and wait for it (blocking; from a worker thread)."""
        self._api.event(body, event.type, event.reason, event.message)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
