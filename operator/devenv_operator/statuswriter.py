"""Writing DevEnvironment statuses: off the reconcile thread, in order per environment.

A reconcile hands its new status here and goes on: the next reconcile (a dependency just
became Available) is not held up by the previous one's PATCH. Writes run on a pool of
their own (``status-N``) and stay in order per environment: each waits for the one queued
before it, which was submitted earlier and so is running or done (the pool is FIFO; a
write never waits on a later one, so this cannot deadlock).

What was written is remembered in the environment's record until the watch brings a body
that carries it, so a reconcile started in between compares against the newest status.
A failed write forgets that, wakes the environment through ``on_lost`` (given at
construction) and is raised by its next reconcile, which backs off and reports it.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devenv_operator import errors, kube, status
from devenv_operator.records import EnvRecord

log = logging.getLogger("devenv_operator.status")

# One small PATCH each, at most one per reconcile; every thread costs memory, busy or not.
WORKERS = 4
# Writes queued at most; beyond it a reconcile waits for room (backpressure), so a slow
# apiserver slows reconciles down instead of growing a queue.
MAX_PENDING = 512


@dataclass
class StatusMemory:
    """The status writer's slice of an environment's record (under ``record.lock``)."""

    written: str | None = None  # JSON of the last status sent, until the watch shows it
    pending_write: concurrent.futures.Future[None] | None = None  # the newest queued write
    failed_write: Exception | None = None  # raised by the next reconcile


class StatusWriter:
    """Queues and writes statuses; remembers the last one written per environment."""

    def __init__(self, api: kube.Kube, on_lost: Callable[[EnvRecord], None],
                 workers: int = WORKERS, max_pending: int = MAX_PENDING) -> None:
        self._api = api
        self._room = threading.BoundedSemaphore(max_pending)
        self._on_lost = on_lost  # called from a status thread
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="status")

    def previous(self, record: EnvRecord, body: Mapping[str, Any]) -> dict[str, Any]:
        """The newest status of the environment: the body's, or the one we wrote since."""
        memory = record.part(StatusMemory)
        with record.lock:
            text = memory.written
        # status.kopf is Kopf's (teardown progress): never ours to compare or to remove.
        current = {k: v for k, v in (body.get("status") or {}).items() if k != "kopf"}
        if text is None:
            return current
        written: dict[str, Any] = json.loads(text)
        if written.get("observedGeneration", 0) >= current.get("observedGeneration", 0):
            return written
        return current

    def raise_failed(self, record: EnvRecord) -> None:
        """Raise (once) the error of a write that failed since the last reconcile."""
        memory = record.part(StatusMemory)
        with record.lock:
            failed, memory.failed_write = memory.failed_write, None
        if failed is not None:
            raise failed

    def submit(self, record: EnvRecord, previous: Mapping[str, Any],
               new: Mapping[str, Any], *, retry_on_failure: bool = True) -> None:
        """Queue a merge patch from ``previous`` to ``new``; returns at once.

        Without ``retry_on_failure`` (the status of a failed run, already being retried
        with backoff) a failed write is only logged: it must not wake the environment early;
        such a write is also dropped rather than waited for when the queue is full (it may
        be called on the event loop).
        """
        memory = record.part(StatusMemory)
        if not self._room.acquire(blocking=retry_on_failure):
            return
        patch = {"status": status.merge_patch(previous, new)}
        with record.lock:
            memory.written = json.dumps(new)
            before = memory.pending_write
            future = self._pool.submit(self._write, record, patch, before, retry_on_failure)
            memory.pending_write = future

        def done(_: concurrent.futures.Future[None]) -> None:
            self._room.release()
            with record.lock:
                if memory.pending_write is future:
                    memory.pending_write = None
        future.add_done_callback(done)

    def flush(self, record: EnvRecord) -> None:
        """Wait until this environment's queued writes are done."""
        memory = record.part(StatusMemory)
        with record.lock:
            pending = memory.pending_write
        if pending is not None:
            concurrent.futures.wait([pending])

    def write_now(self, record: EnvRecord, new: Mapping[str, Any]) -> None:
        """Write a whole status and wait (teardown); never overtaken by an older one."""
        memory = record.part(StatusMemory)
        self.flush(record)
        self._api.patch(kube.DEVENV, record.name, {"status": dict(new)}, subresource="status")
        with record.lock:
            memory.written = json.dumps(new)

    def _write(self, record: EnvRecord, patch: dict[str, Any],
               before: concurrent.futures.Future[None] | None, retry: bool) -> None:
        memory = record.part(StatusMemory)
        if before is not None:
            concurrent.futures.wait([before])
        try:
            self._api.patch(kube.DEVENV, record.name, patch, subresource="status")
            with record.lock:  # a later write went through: an earlier failure is moot
                memory.failed_write = None
        except errors.KubeError as exc:
            log.warning("Writing the status of %s failed%s: %s", record.name,
                        ", reconciling again" if retry else "", exc)
            with record.lock:
                memory.written = None
                if retry:
                    memory.failed_write = exc
            if retry:
                self._on_lost(record)

    def close(self) -> None:
        """Drop queued writes: the operator is stopping (the next one recomputes them)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

