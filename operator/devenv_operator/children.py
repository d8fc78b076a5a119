"""Reading an environment's children: from the cache, LISTed into it when due.

Reconciles read Deployments, Services, ConfigMaps and Secrets from ``cache.ChildCache``
(fed by the operator's watches and by the responses to its own writes) instead of LISTing
them every run. An environment's children are LISTed when it is first reconciled, again
at every resync (which also catches what a watch could have missed, and the Secrets, which
are not watched), and after any failed run. A namespace just created has nothing to list.
Pods are listed only to name what blocks a Deployment that is late.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devenv_operator import builders, cache, childkinds, kube, records, status
from devenv_operator.fanout import Fanout
from devenv_operator.records import EnvRecord, Records

CHILD_KINDS = tuple(row.kind for row in childkinds.TABLE)
Children = dict[str, dict[str, dict[str, Any]]]  # kind -> name -> object
# Pods are listed to name what blocks a Deployment (image pulls, scheduling), but not while
# it is only seconds old and simply coming up: that LIST would slow every normal start.
POD_LOOK_AFTER = 3.0


@dataclass
class ChildMemory:
    """The child reader's slice of an environment's record (under ``record.lock``)."""

    listed_at: datetime | None = None  # when its children were last LISTed
    namespace: str | None = None  # where its children live, once a reconcile got there


def namespace_of(record: EnvRecord) -> str | None:
    """Where the environment's children live, once a reconcile got there."""
    return record.part(ChildMemory).namespace


class ChildReader:
    """The children of environments, and when to LIST them again."""

    def __init__(self, api: kube.Kube, fanout: Fanout, live: Records, *,
                 resync_seconds: float) -> None:
        self._api = api
        self._fanout = fanout
        self._live = live
        self._resync = resync_seconds
        self.cache = cache.ChildCache(builders.ENVIRONMENT_LABEL)

    def observe(self, record: EnvRecord, env: builders.Env, *, fresh: bool,
                now: datetime) -> Children:
        """The environment's children by kind and name (``fresh``: its namespace was just
        created by this run, so it has none)."""
        memory = record.part(ChildMemory)
        with record.lock:
            placed, memory.namespace = memory.namespace, env.namespace
            listed = memory.listed_at
            due = listed is None or (now - listed).total_seconds() >= 0.9 * self._resync
            if fresh or due:
                memory.listed_at = now
        if placed != env.namespace:
            self._live.tag(record, records.HOME, [(env.name, env.namespace)])
        if fresh:
            self.cache.forget_namespace(env.namespace)  # whatever an earlier one held
            return {k.kind: {} for k in CHILD_KINDS}
        if due:
            selector = (f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY_VALUE},"
                        f"{builders.ENVIRONMENT_LABEL}={env.name}")
            listings = self._fanout.run([
                functools.partial(self._api.list_versioned, k, env.namespace, selector)
                for k in CHILD_KINDS])
            for k, (items, version) in zip(CHILD_KINDS, listings, strict=True):
                self.cache.replace(k.kind, env.namespace, env.name, items, version)
        return {k.kind: self.cache.children(k.kind, env.namespace, env.name)
                for k in CHILD_KINDS}

    @staticmethod
    def invalidate(record: EnvRecord) -> None:
        """Read the cluster itself at the next run (something unexpected happened)."""
        memory = record.part(ChildMemory)
        with record.lock:
            memory.listed_at = None

    def with_pods(self, env: builders.Env, found: Mapping[str, status.ServiceObservation],
                  now: datetime, always: bool = False) -> dict[str, status.ServiceObservation]:
        """The observations, with the pods of late Deployments attached (one LIST); with
        ``always``, read them even if every Deployment is Available."""
        if not always and not status.worth_listing_pods(found.values(), now, POD_LOOK_AFTER):
            return dict(found)
        selector = f"{builders.ENVIRONMENT_LABEL}={env.name}"
        pods: dict[str, list[dict[str, Any]]] = {}
        for pod in self._api.list(kube.POD, env.namespace, label_selector=selector):
            service = (pod["metadata"].get("labels") or {}).get(builders.NAME_LABEL, "")
            pods.setdefault(service, []).append(pod)
        return {name: status.with_pods(obs, pods.get(name, [])) for name, obs in found.items()}

    def put(self, kind: kube.Kind, obj: Mapping[str, Any]) -> None:
        """An object as our own write returned it."""
        self.cache.put(kind.kind, obj)

    def remove(self, kind: kube.Kind, obj: Mapping[str, Any]) -> None:
        self.cache.remove(kind.kind, obj)

    def forget_namespace(self, namespace: str) -> None:
        self.cache.forget_namespace(namespace)
