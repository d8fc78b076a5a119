"""An in-memory stand-in for the API seam ``kube.Kube``, for unit tests of the runtime parts.

It lets a part (the status writer, teardown, the child reader, the apply engine) be tested
alone: the objects it reads and writes are plain dicts in a dict keyed by
``(kind, namespace, name)``, every request is counted and logged, and a test can make the
next request of a verb fail or hold it (a hook) to see what the part does then.

What it models of the API server, because the parts rely on it: uid, creationTimestamp,
generation (bumped when anything outside metadata and status changes) and a cluster-wide
integer resourceVersion bumped by every change; server-side apply that creates or merges
our fields and drops the ones our last apply set and this one omits (lists are replaced
whole); JSON merge patch,
where the ``status`` subresource changes only ``.status`` and the main resource never does;
delete with a UID precondition (``errors.Conflict``, as the real one raises for a 409);
objects with finalizers (and every Namespace) that stay with a deletionTimestamp until
``finalize``; label selectors (``a=b``, ``a!=b``, ``a``, ``!a``) and field selectors on
dotted paths; a watch that replays the changes after a resourceVersion; Events; the logs a
test puts in ``pod_logs``.

What it does not model: admission, RBAC, defaulting, validation, garbage collection by
ownerReference, controllers (nothing becomes Available). It only makes parts testable
alone; behaviour is tested against the real control plane (tests/e2e), never here.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from devenv_operator import errors, kube
from devenv_operator.kinds import EVENT, NAMESPACE, Kind

Key = tuple[str, str | None, str]  # (kind, namespace or None when cluster-scoped, name)
Hook = Callable[["Request"], None]


@dataclass(frozen=True)
class Request:
    """One call of the seam, as the fake served it."""

    verb: str  # the method: get, list, watch, create, apply, patch, delete, event, logs
    kind: str
    namespace: str | None = None
    name: str | None = None
    body: Any = None  # what was sent (a copy), for writes
    subresource: str | None = None
    error: Exception | None = None  # what it raised, if it failed


@dataclass
class _Stored:
    obj: dict[str, Any]
    applied: dict[str, Any] | None = None  # what our last apply set (its fields are ours)


@dataclass
class _Change:
    version: int
    type: str  # ADDED, MODIFIED, DELETED
    kind: str
    obj: dict[str, Any]


def _copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy, as a JSON round trip (what the real seam sends and gets)."""
    copied: dict[str, Any] = json.loads(json.dumps(obj))
    return copied


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, None removes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return json.loads(json.dumps(patch))
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _without_dropped(stored: Any, before: Any, now: Any) -> Any:
    """``stored`` less the fields our previous apply (``before``) set and this one omits."""
    if not (isinstance(stored, dict) and isinstance(before, dict) and isinstance(now, dict)):
        return stored
    kept = {}
    for key, value in stored.items():
        if key in before and key not in now:
            continue
        kept[key] = _without_dropped(value, before.get(key), now.get(key))
    return kept


def _json_patch_op(obj: Any, op: Mapping[str, Any]) -> None:
    """One ``test`` or ``remove`` of a JSON patch, in place; ValueError when a test fails."""
    *parents, last = op["path"].lstrip("/").split("/")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    index: Any = int(last) if isinstance(node, list) else last
    if op["op"] == "test" and node[index] != op["value"]:
        raise ValueError("test failed")
    if op["op"] == "remove":
        del node[index]


def _selected(labels: Mapping[str, str], selector: str | None) -> bool:
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            ok = labels.get(key) != value
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            ok = labels.get(key) == value
        elif term.startswith("!"):
            ok = term[1:].strip() not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _fields_selected(obj: Mapping[str, Any], selector: str | None) -> bool:
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        negate = "!=" in term
        path, value = term.replace("!=", "=").replace("==", "=").split("=", 1)
        if (_field(obj, path.strip()) == value.strip()) == negate:
            return False
    return True


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a change of bumps the generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class FakeKube:
    """Serves the methods of ``kube.Kube`` from memory; thread-safe."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.objects: dict[Key, _Stored] = {}
        self.events: list[dict[str, Any]] = []  # Events as kube.event_object builds them
        self.pod_logs: dict[tuple[str, str, str], str] = {}  # (namespace, pod, container)
        self.requests: list[Request] = []  # in the order they were served
        self._version = 0
        self._changes: list[_Change] = []
        self._failures: dict[str, deque[Exception]] = {}
        self._hooks: dict[str, list[Hook]] = {}
        self._lock = threading.RLock()

    def as_kube(self) -> kube.Kube:
        """This fake where a part wants the real seam."""
        return cast(kube.Kube, self)

    # -- what a test arranges and inspects ------------------------------------------------

    def fail_next(self, verb: str, error: Exception, times: int = 1) -> None:
        """The next ``times`` requests of ``verb`` raise ``error``."""
        with self._lock:
            self._failures.setdefault(verb, deque()).extend([error] * times)

    def before(self, verb: str, hook: Hook) -> None:
        """Call ``hook`` with each request of ``verb`` before serving it (outside the lock,
        so it may block to hold the request, change objects, or raise to fail it)."""
        with self._lock:
            self._hooks.setdefault(verb, []).append(hook)

    def count(self, verb: str | None = None) -> int:
        """How many requests (of ``verb``) were served, failed ones included."""
        with self._lock:
            return sum(1 for r in self.requests if verb is None or r.verb == verb)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.verb for r in self.requests)

    def served(self, verb: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.verb == verb]

    def seed(self, kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Put an object in place as if it had been created earlier (no request counted);
        a uid or creationTimestamp it has is kept."""
        with self._lock:
            return _copy(self._create(kind, _copy(obj), arranged=True))

    def stored(self, kind: Kind, name: str, namespace: str | None = None
               ) -> dict[str, Any] | None:
        """The object as the fake holds it (no request counted)."""
        with self._lock:
            found = self.objects.get(self._key(kind, namespace, name))
            return None if found is None else _copy(found.obj)

    def finalize(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        """Finish a deletion held by finalizers (a Namespace: its content goes with it)."""
        with self._lock:
            key = self._key(kind, namespace, name)
            if key not in self.objects:
                return
            self._remove(key)
            if kind == NAMESPACE:
                for inside in [k for k in self.objects if k[1] == name]:
                    self._remove(inside)

    # -- the seam ---------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        with self._serving(Request("get", kind.kind, namespace, name)):
            return self.stored(kind, name, namespace)

    def list_versioned(self, kind: Kind, namespace: str | None = None,
                       label_selector: str | None = None, *, field_selector: str | None = None
                       ) -> tuple[list[dict[str, Any]], str | None]:
        selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        with self._serving(Request("list", kind.kind, namespace, body=selectors)), self._lock:
            items = [_copy(s.obj) for (k, ns, _), s in sorted(
                        self.objects.items(), key=lambda item: (item[0][1] or "", item[0][2]))
                     if k == kind.kind and (namespace is None or ns == namespace)
                     and self._matches(s.obj, label_selector, field_selector)]
            return items, str(self._version)

    def list(self, kind: Kind, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.list_versioned(kind, namespace, label_selector)[0]

    def watch(self, kind: Kind, resource_version: str, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int = 1800, stopped: Callable[[], bool] = lambda: False
              ) -> Iterator[dict[str, Any]]:
        """The changes after ``resource_version``, then the end of the stream."""
        with self._serving(Request("watch", kind.kind, namespace)), self._lock:
            after = int(resource_version or 0)
            changes = [c for c in self._changes if c.version > after and c.kind == kind.kind
                       and (namespace is None or c.obj["metadata"].get("namespace") == namespace)
                       and self._matches(c.obj, label_selector, field_selector)]
        for change in changes:
            yield {"type": change.type, "object": _copy(change.obj)}
            if stopped():
                return

    def create(self, kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata", {})
        request = Request("create", kind.kind, meta.get("namespace"), meta.get("name"),
                          _copy(obj))
        with self._serving(request), self._lock:  # .status is not set by a create
            return _copy(self._create(kind, {k: v for k, v in _copy(obj).items()
                                             if k != "status"}))

    def apply(self, kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply: create, or merge our fields (and drop those we no longer set).
        ``.status`` is never applied (every kind applied has a status subresource or none)."""
        meta = obj["metadata"]
        request = Request("apply", kind.kind, meta.get("namespace"), meta["name"], _copy(obj))
        with self._serving(request), self._lock:
            desired = {k: v for k, v in _copy(obj).items() if k != "status"}
            key = self._key(kind, meta.get("namespace"), meta["name"])
            found = self.objects.get(key)
            if found is None:
                created = self._create(kind, _copy(desired))
                self.objects[key].applied = desired
                return _copy(created)
            merged = merge_patch(_without_dropped(found.obj, found.applied, desired), desired)
            found.applied = desired
            return _copy(self._update(key, merged))

    def patch(self, kind: Kind, name: str, patch: Mapping[str, Any] | list[dict[str, Any]],
              namespace: str | None = None, subresource: str | None = None
              ) -> dict[str, Any] | None:
        """JSON merge patch (or with a list a JSON patch); the status subresource changes only
        ``.status``, the object itself everything but it. None when the object is gone."""
        if isinstance(patch, list):
            return self._json_patch(Request("patch", kind.kind, namespace, name,
                                            [dict(op) for op in patch]),
                                    kind, name, patch, namespace)
        request = Request("patch", kind.kind, namespace, name, _copy(patch), subresource)
        with self._serving(request), self._lock:
            key = self._key(kind, namespace, name)
            found = self.objects.get(key)
            if found is None:
                return None
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != found.obj["metadata"]["resourceVersion"]:
                raise errors.from_status(409, "Conflict", "the object has been modified",
                                         f"PATCH {kind.kind} {name}")
            if subresource == "status":
                part = {"status": patch.get("status")} if "status" in patch else {}
            else:
                part = {k: v for k, v in patch.items() if k != "status"}
            return _copy(self._update(key, merge_patch(found.obj, part)))

    def _json_patch(self, request: Request, kind: Kind, name: str, ops: list[dict[str, Any]],
                    namespace: str | None) -> dict[str, Any] | None:
        """JSON patch with ``test`` and ``remove`` (what the operator sends): a failed test
        is errors.Invalid, as the API server answers 422; None when the object is gone."""
        with self._serving(request), self._lock:
            key = self._key(kind, namespace, name)
            found = self.objects.get(key)
            if found is None:
                return None
            obj = _copy(found.obj)
            for op in ops:
                try:
                    _json_patch_op(obj, op)
                except (IndexError, KeyError, ValueError) as exc:
                    raise errors.from_status(422, "Invalid", f"{op['op']} {op['path']}: {exc}",
                                             f"PATCH {kind.kind} {name}") from exc
            return _copy(self._update(key, obj))

    def delete(self, kind: Kind, name: str, namespace: str | None = None,
               uid: str | None = None) -> bool:
        """True if a deletion was requested, False if already gone; with ``uid``, only
        that very object (else errors.Conflict, as the API server answers 409)."""
        request = Request("delete", kind.kind, namespace, name, {"uid": uid} if uid else None)
        with self._serving(request), self._lock:
            key = self._key(kind, namespace, name)
            found = self.objects.get(key)
            if found is None:
                return False
            meta = found.obj["metadata"]
            if uid is not None and meta["uid"] != uid:
                raise errors.from_status(
                    409, "Conflict", f"Precondition failed: UID in precondition: {uid}, UID in "
                    f"object meta: {meta['uid']}", f"DELETE {kind.kind} {name}")
            held = meta.get("finalizers") or (found.obj.get("spec") or {}).get("finalizers")
            if not held:
                self._remove(key)
            elif not meta.get("deletionTimestamp"):
                terminating = merge_patch(found.obj, {"metadata": {
                    "deletionTimestamp": self._now()}})
                if kind == NAMESPACE:
                    terminating["status"] = {**(terminating.get("status") or {}),
                                             "phase": "Terminating"}
                self._update(key, terminating)
            return True

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail: int = 30, timeout: float = 10.0) -> str:
        """The last ``tail`` lines of what a test put in ``pod_logs`` for that container."""
        request = Request("logs", "Pod", namespace, pod, {"container": container,
                                                          "tail": tail}, "log")
        with self._serving(request), self._lock:
            text = self.pod_logs.get((namespace, pod, container), "")
            return "".join(text.splitlines(keepends=True)[-tail:])

    def event(self, involved: Mapping[str, Any], event_type: str, reason: str,
              message: str, namespace: str = "default", at: datetime | None = None) -> None:
        """Record an Event; like the real one, a failure to do so is swallowed."""
        event = kube.event_object(involved, event_type, reason, message, namespace, at)
        request = Request("event", EVENT.kind, event["metadata"]["namespace"], None, event)
        try:
            with self._serving(request), self._lock:
                self.events.append(_copy(event))
        except errors.KubeError:
            pass

    # -- plumbing ---------------------------------------------------------------------------

    def _serving(self, request: Request) -> _Serving:
        return _Serving(self, request)

    def _admit(self, request: Request) -> None:
        """Run the hooks and injected failures of a request (raises to fail it)."""
        with self._lock:
            hooks = list(self._hooks.get(request.verb, ()))
            queued = self._failures.get(request.verb)
            failure = queued.popleft() if queued else None
        for hook in hooks:
            hook(request)
        if failure is not None:
            raise failure

    def _record(self, request: Request, error: Exception | None) -> None:
        with self._lock:
            self.requests.append(Request(request.verb, request.kind, request.namespace,
                                         request.name, request.body, request.subresource,
                                         error))

    @staticmethod
    def _key(kind: Kind, namespace: str | None, name: str) -> Key:
        return (kind.kind, namespace if kind.namespaced else None, name)

    def _now(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _bump(self) -> str:
        self._version += 1
        return str(self._version)

    @staticmethod
    def _matches(obj: Mapping[str, Any], labels: str | None, fields: str | None) -> bool:
        return (_selected(obj["metadata"].get("labels") or {}, labels)
                and _fields_selected(obj, fields))

    def _create(self, kind: Kind, obj: dict[str, Any], arranged: bool = False
                ) -> dict[str, Any]:
        """Store a new object; ``arranged`` (seeded by a test) keeps a uid and
        creationTimestamp it was given."""
        meta = obj.setdefault("metadata", {})
        given = {k: meta[k] for k in ("uid", "creationTimestamp") if arranged and k in meta}
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.from_status(422, "Invalid", "metadata.name: Required value",
                                         f"POST {kind.kind}")
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        key = self._key(kind, meta.get("namespace"), meta["name"])
        if key in self.objects:
            raise errors.from_status(409, "AlreadyExists", f'{kind.plural} "{meta["name"]}" '
                                     "already exists", f"POST {kind.kind}")
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        if kind == NAMESPACE:  # as the API server sets them on every Namespace
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {"phase": "Active"})
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=self._now(), generation=1,
                    resourceVersion=self._bump())
        meta.update(given)
        self.objects[key] = _Stored(obj)
        self._changes.append(_Change(self._version, "ADDED", kind.kind, _copy(obj)))
        return obj

    def _update(self, key: Key, new: dict[str, Any]) -> dict[str, Any]:
        found = self.objects[key]
        old, new = found.obj, _copy(new)
        new.setdefault("apiVersion", old.get("apiVersion"))
        new.setdefault("kind", old.get("kind"))
        for fixed in ("uid", "creationTimestamp", "generation", "resourceVersion", "name",
                      "namespace"):
            if fixed in old["metadata"]:
                new.setdefault("metadata", {})[fixed] = old["metadata"][fixed]
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        if _content(new) != _content(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = self._bump()
        found.obj = new
        self._changes.append(_Change(self._version, "MODIFIED", key[0], _copy(new)))
        return new

    def _remove(self, key: Key) -> None:
        gone = self.objects.pop(key).obj
        gone["metadata"]["resourceVersion"] = self._bump()
        self._changes.append(_Change(self._version, "DELETED", key[0], gone))


@dataclass
class _Serving:
    """Admits a request on entry (hooks, injected failures) and logs it on exit."""

    fake: FakeKube
    request: Request

    def __enter__(self) -> None:
        try:
            self.fake._admit(self.request)
        except Exception as exc:
            self.fake._record(self.request, exc)
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 _tb: object) -> None:
        self.fake._record(self.request, exc if isinstance(exc, Exception) else None)
