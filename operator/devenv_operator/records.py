"""One record per DevEnvironment: everything the operator remembers about it between runs.

Records are keyed by UID, so an environment deleted and re-created under the same name
starts afresh (no stale error, status or listing time carried over). ``Records.open`` is
the only place a record is created and ``Records.close`` the only place one ends (when the
watch reports the object gone); no other per-environment state exists in the operator, so
nothing outlives a deletion by accident.

A record holds one *slice* per part, and each part defines its own slice next to the code
that uses it (``record.part(StatusMemory)``): the status writer its queue, the child reader
its listing time, the controller its wake-up event. This module knows none of them.

Lookups that events make (which environments use this template, this class, this copied
Secret; which one lives in this namespace) go through indexes kept here (``tag`` and
``tagged``), never through a scan of every record: a child event in an operator with 10,000
environments costs a dict lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
Source = tuple[str, str]  # (namespace, name) of a copied Secret

# The indexes, by what they answer.
NAME = "name"  # environment name -> its records (two while one replaces a deleted one)
HOME = "home"  # (name, namespace) of environments whose children live there
TEMPLATE = "template"  # template name -> environments rendered from it
CLASS = "class"  # class name (None: no class) -> environments of that class
COPIES = "copies"  # (namespace, name) of a Secret -> environments copying it
OWNER = "owner"  # owner -> environments of any class, for the classes' per-owner limit
HOSTNAME = "hostname"  # hostname label -> the one environment holding it


@dataclass(eq=False)
class EnvRecord:
    """What the operator remembers about one DevEnvironment (one UID)."""

    uid: str
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _slices: dict[type, Any] = field(default_factory=dict, repr=False)

    def part(self, kind: Callable[[], T]) -> T:
        """This record's slice of type ``kind``, created empty on first use."""
        found = self._slices.get(kind)  # type: ignore[call-overload]
        if found is None:
            found = self._slices.setdefault(kind, kind())  # type: ignore[call-overload]
        return found  # type: ignore[no-any-return]


class Records:
    """The live records, by UID, and their indexes. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, EnvRecord] = {}
        self._index: dict[str, dict[Hashable, dict[str, EnvRecord]]] = {}
        self._tags: dict[tuple[str, str], frozenset[Hashable]] = {}  # (uid, index) -> keys

    def open(self, uid: str, name: str) -> EnvRecord:
        """The record of this environment, created the first time it is seen."""
        with self._lock:
            record = self._by_uid.get(uid)
            if record is None:
                record = self._by_uid[uid] = EnvRecord(uid, name)
                self._retag(record, NAME, (name,))
            return record

    def close(self, uid: str) -> EnvRecord | None:
        """End the record: the environment is gone from the API (its tags go with it)."""
        with self._lock:
            record = self._by_uid.pop(uid, None)
            if record is not None:
                for index in list(self._index):
                    self._retag(record, index, ())
            return record

    def get(self, uid: str) -> EnvRecord | None:
        with self._lock:
            return self._by_uid.get(uid)

    def tag(self, record: EnvRecord, index: str, keys: Iterable[Hashable]) -> None:
        """File a record under exactly these keys of an index (replacing its earlier ones);
        a record already closed is not filed again."""
        with self._lock:
            if self._by_uid.get(record.uid) is record:
                self._retag(record, index, keys)

    def claim(self, record: EnvRecord, index: str,
              choices: Iterable[Sequence[Hashable]]) -> list[Hashable | None]:
        """For each list of choices, the first key no other record holds in ``index``
        (None when every one is held), and file the record under exactly those keys: one
        atomic step, so two environments never take the same key."""
        with self._lock:
            table = self._index.get(index, {})
            mine = self._tags.get((record.uid, index), frozenset())
            taken: list[Hashable | None] = []
            for options in choices:
                taken.append(next((key for key in options if key not in taken and (
                    key in mine or not table.get(key))), None))
            if self._by_uid.get(record.uid) is record:
                self._retag(record, index, [key for key in taken if key is not None])
            return taken

    def tagged(self, index: str, key: Hashable) -> list[EnvRecord]:
        """The records filed under ``key`` in ``index``."""
        with self._lock:
            return list(self._index.get(index, {}).get(key, {}).values())

    def _retag(self, record: EnvRecord, index: str, keys: Iterable[Hashable]) -> None:
        new, old = frozenset(keys), self._tags.pop((record.uid, index), frozenset())
        table = self._index.setdefault(index, {})
        for key in old - new:
            members = table.get(key, {})
            members.pop(record.uid, None)
            if not members:
                table.pop(key, None)
        for key in new - old:
            table.setdefault(key, {})[record.uid] = record
        if new:
            self._tags[record.uid, index] = new

    def named(self, name: str) -> list[EnvRecord]:
        """Records of environments with this name (two while one replaces a deleted one)."""
        return self.tagged(NAME, name)

    def serves(self, name: str, namespace: str) -> bool:
        """Whether a child labelled for environment ``name`` in ``namespace`` is one of ours
        (its environment is live and lives there)."""
        return bool(self.tagged(HOME, (name, namespace)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_uid)

    def __iter__(self) -> Iterator[EnvRecord]:
        with self._lock:
            return iter(list(self._by_uid.values()))
