"""One record per DevEnvironment: everything the operator remembers about it between runs.

Records are keyed by UID, so an environment deleted and re-created under the same name
starts afresh (no stale error, status or listing time carried over). ``Records.open`` is
the only place a record is created and ``Records.close`` the only place one ends (when the
watch reports the object gone); no other per-environment state exists in the operator, so
nothing outlives a deletion by accident.

Who touches which field (each owner keeps to its own):

- the event loop (``main.py``): ``wake``, ``seen``, ``phase``, ``copy_sources``, ``last_error``;
- ``statuswriter.StatusWriter`` (worker threads, under ``lock``): ``written``,
  ``pending_write``, ``failed_write``;
- ``children.ChildReader`` (worker threads, under ``lock``): ``listed_at``, ``namespace``
  (read by the watch handlers on the loop, to cache only children of live environments);
- ``reconcile.Reconciler``: ``owner``, ``class_name``, ``created`` (read by other
  reconciles to count an owner's environments), ``template_name`` (read by the template
  watch, to re-render an edited template's environments).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Source = tuple[str, str]  # (namespace, name) of a copied Secret


@dataclass(eq=False)
class EnvRecord:
    """What the operator remembers about one DevEnvironment (one UID)."""

    uid: str
    name: str
    # Event loop only.
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set: reconcile (or re-check)
    seen: tuple[Any, ...] | None = None  # what the last reconcile was started for
    phase: str | None = None  # for the per-phase gauge
    copy_sources: frozenset[Source] = frozenset()  # Secrets whose changes wake it
    last_error: str | None = None  # the last Warning posted for a failed run, not repeated
    # Worker threads, under ``lock``.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    written: str | None = None  # JSON of the last status sent, until the watch shows it
    pending_write: concurrent.futures.Future[None] | None = None  # the newest queued write
    failed_write: Exception | None = None  # raised by the next reconcile
    listed_at: datetime | None = None  # when its children were last LISTed
    namespace: str | None = None  # where its children live, once a reconcile got there
    # Reconcile threads: who owns it, in which class, and when it was created (for the
    # class's maxEnvironmentsPerOwner: the oldest ones of an owner count first).
    owner: str | None = None
    class_name: str | None = None
    created: str = ""
    template_name: str | None = None  # the template it is rendered from, if any


class Records:
    """The live records, by UID. Thread-safe; opened and closed on the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, EnvRecord] = {}

    def open(self, uid: str, name: str) -> EnvRecord:
        """The record of this environment, created the first time it is seen."""
        with self._lock:
            record = self._by_uid.get(uid)
            if record is None:
                record = self._by_uid[uid] = EnvRecord(uid, name)
            return record

    def close(self, uid: str) -> EnvRecord | None:
        """End the record: the environment is gone from the API."""
        with self._lock:
            return self._by_uid.pop(uid, None)

    def get(self, uid: str) -> EnvRecord | None:
        with self._lock:
            return self._by_uid.get(uid)

    def named(self, name: str) -> list[EnvRecord]:
        """Records of environments with this name (two while one replaces a deleted one)."""
        with self._lock:
            return [r for r in self._by_uid.values() if r.name == name]

    def serves(self, name: str, namespace: str) -> bool:
        """Whether a child labelled for environment ``name`` in ``namespace`` is one of ours
        (its environment is live and lives there)."""
        with self._lock:
            return any(r.name == name and r.namespace == namespace
                       for r in self._by_uid.values())

    def owned_before(self, record: EnvRecord) -> int:
        """How many environments of the same owner and class were created before this one."""
        mine = (record.created, record.name)
        with self._lock:
            return sum(1 for r in self._by_uid.values()
                       if r is not record and r.owner == record.owner
                       and r.class_name == record.class_name and (r.created, r.name) < mine)

    def from_template(self, name: str) -> list[EnvRecord]:
        """Records of environments rendered from this template."""
        with self._lock:
            return [r for r in self._by_uid.values() if r.template_name == name]

    def in_class(self, class_name: str | None) -> list[EnvRecord]:
        """Records of environments of this class (None: of no class)."""
        with self._lock:
            return [r for r in self._by_uid.values() if r.class_name == class_name]

    def copying(self, source: Source) -> list[EnvRecord]:
        """Records of environments that copy this Secret."""
        with self._lock:
            return [r for r in self._by_uid.values() if source in r.copy_sources]

    def phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            for record in self._by_uid.values():
                if record.phase is not None:
                    counts[record.phase] = counts.get(record.phase, 0) + 1
        return counts

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_uid)

    def __iter__(self) -> Iterator[EnvRecord]:
        with self._lock:
            return iter(list(self._by_uid.values()))
