"""Teardown of a deleted DevEnvironment: delete its namespace, say what still blocks it.

Only a namespace this environment created (owned by its UID) is ever deleted. Until the
namespace is gone, the DevEnvironment's status says what the namespace controller is still
waiting for; the Kopf handler in ``main.py`` holds the finalizer until this returns None.
Blocking: called from a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from devenv_operator import builders, kube, status
from devenv_operator.children import ChildReader
from devenv_operator.recorder import EventRecorder
from devenv_operator.records import EnvRecord
from devenv_operator.statuswriter import StatusWriter
from devenv_operator.transitions import Event

log = logging.getLogger("devenv_operator.teardown")


class Teardown:
    """Deletes environments' namespaces and reports progress in their status."""

    def __init__(self, api: kube.Kube, *, statuses: StatusWriter, children: ChildReader,
                 events: EventRecorder, namespace_prefix: str,
                 clock: Callable[[], datetime]) -> None:
        self._api = api
        self._statuses = statuses
        self._children = children
        self._events = events
        self._prefix = namespace_prefix
        self._clock = clock

    def run(self, body: Mapping[str, Any], record: EnvRecord) -> str | None:
        """Delete the environment's namespace if we created it; None once it is gone.

        Otherwise returns what still blocks the deletion, which is also written to status.
        """
        meta = body["metadata"]
        namespace = (body.get("status") or {}).get("namespace")
        if not namespace:
            namespace = builders.validate(meta["name"], body.get("spec"),
                                          self._prefix).namespace
        observed = self._api.get(kube.NAMESPACE, namespace) if namespace else None
        if observed is None and namespace:
            self._children.forget_namespace(namespace)  # gone: nothing of it to remember
        if observed is None or not builders.owned_by(observed, meta["name"], meta["uid"]):
            return None  # never created, already gone, or not ours to delete
        if not observed["metadata"].get("deletionTimestamp"):
            self._api.delete(kube.NAMESPACE, namespace or "", uid=observed["metadata"]["uid"])
            log.info("Deleting Namespace %s of DevEnvironment %s", namespace, meta["name"])
            self._events.post_now(body, Event("Normal", "Deleting",
                                              f"Deleting Namespace {namespace}"))
        message = (f"Waiting for namespace {namespace} to be deleted: "
                   f"{status.namespace_blockers(observed)}")
        self._statuses.flush(record)  # never overtaken by an older status
        previous = self._statuses.previous(record, body)
        if previous.get("phase") != "Terminating" or previous.get("message") != message:
            self._statuses.write_now(record, status.terminating(
                previous, message, self._clock(), int(meta.get("generation", 1))))
        return message
