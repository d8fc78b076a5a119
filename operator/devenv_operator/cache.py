"""PURE in-memory view of the environments' children, fed by watches, LISTs and our writes.

Reconciles read an environment's Deployments, Services, ConfigMaps and Secrets from here
instead of LISTing them on every run: the operator already watches the first three, and the
response to each of its own applies is the newest version of what it wrote. An environment's
children are LISTed once when it is first reconciled (and again at every resync, which
also catches what a watch could have missed, and the Secrets, which are not watched), and
``replace`` merges such a LIST without undoing a newer watch event.

Only children of environments the operator serves are put here (the watch handlers check
the environment and its namespace), and each namespace holds a bounded number per kind.
Entries are kept compactly (compressed JSON, without ``managedFields``): at 1,000
environments, plain dicts of every child would be a large share of the operator's memory.
Thread-safe: the event loop writes watch events while worker threads read and write.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TOMBSTONES = 10_000
# Children of one kind in one namespace, at most. A spec has at most 50 of each; anything
# beyond is objects someone else labelled as ours (pruned at the next resync), which must
# not grow the operator's memory.
MAX_PER_NAMESPACE = 256

Key = tuple[str, str]  # (kind, namespace)


@dataclass(frozen=True)
class _Entry:
    version: int | None
    environment: str | None
    packed: bytes  # zlib-compressed JSON


def _version(obj: Mapping[str, Any]) -> int | None:
    """The resourceVersion as a number (etcd's revision), or None when it is not one."""
    value = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _newer(candidate: int | None, current: int | None) -> bool:
    """Whether candidate supersedes current; unknown versions always win (last one seen)."""
    return candidate is None or current is None or candidate >= current


def _encode(obj: Mapping[str, Any]) -> bytes:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return zlib.compress(json.dumps({**obj, "metadata": meta}, separators=(",", ":")).encode(), 1)


def _decode(packed: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(zlib.decompress(packed))
    return obj


class ChildCache:
    """Children by (kind, namespace, name), with the environment label each one carries."""

    def __init__(self, environment_label: str) -> None:
        self._label = environment_label
        self._lock = threading.Lock()
        self._objects: dict[Key, dict[str, _Entry]] = {}
        self._gone: dict[tuple[str, str, str], int | None] = {}  # deletions seen, by version

    def _place(self, kind: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        version = _version(obj)
        bucket = self._objects.setdefault((kind, namespace), {})
        current = bucket.get(name)
        if current is None and len(bucket) >= MAX_PER_NAMESPACE:
            return
        if current is not None and not _newer(version, current.version):
            return
        if current is None and (kind, namespace, name) in self._gone:
            deleted_at = self._gone[(kind, namespace, name)]
            if version is not None and deleted_at is not None and version <= deleted_at:
                return  # a LIST taken before a deletion we have already seen
        self._gone.pop((kind, namespace, name), None)
        environment = (meta.get("labels") or {}).get(self._label)
        bucket[name] = _Entry(version, environment, _encode(obj))

    def put(self, kind: str, obj: Mapping[str, Any]) -> None:
        """An object as a watch event or a write response showed it."""
        with self._lock:
            self._place(kind, obj)

    def remove(self, kind: str, obj: Mapping[str, Any]) -> None:
        """An object deleted (a watch DELETED event, or our own delete request)."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        version = _version(obj)
        with self._lock:
            bucket = self._objects.get((kind, namespace), {})
            current = bucket.get(name)
            if current is not None and _newer(version, current.version):
                del bucket[name]
                if not bucket:
                    self._objects.pop((kind, namespace), None)
            self._gone[(kind, namespace, name)] = version
            while len(self._gone) > MAX_TOMBSTONES:
                self._gone.pop(next(iter(self._gone)))

    def replace(self, kind: str, namespace: str, environment: str,
                objects: Iterable[Mapping[str, Any]], list_version: str | None) -> None:
        """Merge a LIST of one environment's children of one kind, taken at list_version.

        Entries the LIST does not show are dropped unless a watch event or a write newer
        than the LIST put them there.
        """
        try:
            at: int | None = int(list_version) if list_version is not None else None
        except ValueError:
            at = None
        listed = list(objects)
        names = {(o.get("metadata") or {}).get("name") for o in listed}
        with self._lock:
            bucket = self._objects.get((kind, namespace), {})
            for name, entry in list(bucket.items()):
                if (entry.environment == environment and name not in names
                        and (at is None or entry.version is None or entry.version <= at)):
                    del bucket[name]
            for obj in listed:
                self._place(kind, obj)

    def children(self, kind: str, namespace: str, environment: str) -> dict[str, dict[str, Any]]:
        """One environment's children of one kind, by name (fresh copies)."""
        with self._lock:
            entries = [(name, entry.packed) for name, entry in
                       self._objects.get((kind, namespace), {}).items()
                       if entry.environment == environment]
        return {name: _decode(packed) for name, packed in entries}

    def forget_namespace(self, namespace: str) -> None:
        """Drop everything about a namespace (its environment is gone)."""
        with self._lock:
            for key in [k for k in self._objects if k[1] == namespace]:
                del self._objects[key]
            for gone in [k for k in self._gone if k[1] == namespace]:
                del self._gone[gone]
