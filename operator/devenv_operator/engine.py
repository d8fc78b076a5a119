"""The generic apply-and-prune engine: converge objects to what the builders want.

It knows nothing of DevEnvironments: given a desired object and the one observed, it
applies (server-side, only when something differs, see ``diff``; containers someone else
added to a Deployment, which an apply keeps, are removed first), keeps the child cache
current with the response, and records what it changed in the run; given what the run
still wants, it deletes the rest. An object the API server refuses (``errors.Invalid``) is
a per-object failure, returned as an ``ApplyFailure`` so that the run goes on, and so is
one refused as ``errors.Forbidden`` (an admission policy or webhook denying it); any other
error ends the run. An object whose change the API server cannot make in place (a
Secret's type) is deleted and created again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from devenv_operator import childkinds, diff, errors, kube
from devenv_operator.children import ChildReader, Children
from devenv_operator.status import ApplyFailure
from devenv_operator.transitions import ChildChange

log = logging.getLogger("devenv_operator.engine")


@dataclass
class Run:
    """What one reconcile changed so far (its applies run in parallel: use ``lock``)."""

    changes: list[ChildChange] = field(default_factory=list)
    keep: dict[str, set[str]] = field(default_factory=dict)  # kind -> names still desired
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, change: ChildChange) -> None:
        with self.lock:
            self.changes.append(change)


class Applier:
    """Applies desired children and prunes the ones no longer desired."""

    def __init__(self, api: kube.Kube, children: ChildReader) -> None:
        self._api = api
        self._children = children

    def apply(self, run: Run, kind: kube.Kind, obj: Mapping[str, Any],
              observed: Mapping[str, Any] | None) -> dict[str, Any]:
        """The object as applied (or as observed, when nothing differs)."""
        desired = diff.with_hash(obj)
        observed = self._remove_foreign(run, kind, desired, observed)
        if not diff.needs_apply(desired, observed):
            return dict(observed or {})
        if observed is not None and diff.needs_replace(desired, observed):
            # A field the API server will not change in place (a Secret's type): replace
            # that very object.
            self._api.delete(kind, desired["metadata"]["name"], desired["metadata"]["namespace"],
                             uid=observed["metadata"].get("uid"))
            self._children.remove(kind, observed)
            observed = None
        result = self._api.apply(kind, desired)
        self._children.put(kind, result)
        meta = desired["metadata"]
        verb: Literal["Created", "Updated"] = "Created" if observed is None else "Updated"
        log.info("%s %s %s in %s", verb, kind.kind, meta["name"], meta["namespace"])
        run.wrote(ChildChange(verb, kind.kind, meta["name"], meta["namespace"]))
        return result

    def _remove_foreign(self, run: Run, kind: kube.Kind, desired: Mapping[str, Any],
                        observed: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The observed object without the containers someone else added to it (removed
        with a JSON patch: an apply keeps them); as observed when there are none, or when
        the patch fails on a stale view (the next reconcile tries again)."""
        ops = diff.foreign_containers(desired, observed)
        if not ops or observed is None:
            return observed
        meta = desired["metadata"]
        try:
            result = self._api.patch(kind, meta["name"], ops, meta["namespace"])
        except (errors.Invalid, errors.Conflict) as exc:
            log.info("Not removing containers from %s %s in %s yet: %s", kind.kind,
                     meta["name"], meta["namespace"], exc)
            return observed
        if result is None:  # gone: the apply creates it again
            return None
        self._children.put(kind, result)
        removed = [op["value"] for op in ops if op["op"] == "test"]
        log.info("Removed containers %s, which it did not write, from %s %s in %s",
                 ", ".join(removed), kind.kind, meta["name"], meta["namespace"])
        run.wrote(ChildChange("Updated", kind.kind, meta["name"], meta["namespace"]))
        return result

    def try_apply(self, run: Run, kind: kube.Kind, obj: Mapping[str, Any],
                  children: Children) -> tuple[dict[str, Any] | None, ApplyFailure | None]:
        """(the object as applied, or None; why the API server refused it, or None)."""
        name = obj["metadata"]["name"]
        try:
            return self.apply(run, kind, obj, children[kind.kind].get(name)), None
        except (errors.Invalid, errors.Forbidden) as exc:  # refused, e.g. by admission
            return None, ApplyFailure(kind.kind, name, exc.reason or type(exc).__name__,
                                      str(exc))

    def prune(self, run: Run, namespace: str, children: Children) -> None:
        """Delete every observed child of a pruned kind that the run did not keep (only that
        very object: by UID)."""
        for row in childkinds.PRUNED:
            kind = row.kind
            keep = run.keep.get(kind.kind, set())
            for name, obj in children[kind.kind].items():
                if name in keep:
                    continue
                deleted = self._api.delete(kind, name, namespace,
                                           uid=obj["metadata"].get("uid"))
                self._children.remove(kind, obj)
                if deleted:
                    log.info("Deleted %s %s in %s", kind.kind, name, namespace)
                    run.wrote(ChildChange("Deleted", kind.kind, name, namespace))
