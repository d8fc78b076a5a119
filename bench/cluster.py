"""The benchmark's side of the cluster: a retrying client, and watches that timestamp milestones.

``Api`` is the "direct client" of the floor baseline: the operator's own client
(``devenv_operator.kube.Kube``) under the benchmark's field manager, retrying throttled (429)
and unavailable (503) answers and counting those retries, which the results report. ``Tracker``
runs one watch per kind in threads and records, on the benchmark's clock, when each namespace,
config object, Deployment and DevEnvironment reached each milestone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bench.render import BENCH_MANAGER
from devenv_operator import errors, kube
from devenv_operator.kube import Kind
from devenv_operator.status import deployment_available

FIELD_MANAGER = BENCH_MANAGER  # server-side apply owner of everything the baselines write
LABEL = "shipit.dev/environment"
RETRIES = 20
RETRY_STATUSES = (429, 503)
REQUEST_TIMEOUT_S = 60.0
T = TypeVar("T")


class Api:
    """The operator's client with the benchmark's field manager; safe to share between threads.

    A 429 or 503 (throttling, or a just-registered CRD's storage warming up) is retried every
    0.5 s up to ``RETRIES`` times; ``retries`` counts them: a floor that had to retry is no floor.
    """

    def __init__(self, client: kube.Kube) -> None:
        self.kube = client
        self.retries = 0
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, kubeconfig: str, pool_size: int = 32) -> Api:
        api_client = kube.load_api_client(kubeconfig, pool_size=pool_size)
        return cls(kube.Kube(api_client, timeout=REQUEST_TIMEOUT_S, field_manager=FIELD_MANAGER))

    def _retrying(self, call: Callable[[], T]) -> T:
        for _ in range(RETRIES):
            try:
                return call()
            except errors.KubeError as exc:
                if exc.status not in RETRY_STATUSES:
                    raise
            with self._lock:
                self.retries += 1
            time.sleep(0.5)
        return call()

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply (force) with the benchmark's field manager."""
        kind = kube.KINDS[obj["kind"]]
        return self._retrying(lambda: self.kube.apply(kind, obj))

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind = kube.KINDS[obj["kind"]]
        return self._retrying(lambda: self.kube.create(kind, obj))

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete in the background; False if it was already gone."""
        return self._retrying(lambda: self.kube.delete(kind, name, namespace))

    def list_versioned(self, kind: Kind, label_selector: str | None = None
                       ) -> tuple[list[dict[str, Any]], str]:
        """Every object of a kind, and the resourceVersion to watch from."""
        items, version = self._retrying(
            lambda: self.kube.list_versioned(kind, label_selector=label_selector))
        if version is None:
            raise errors.NotFound(f"{kind.plural} are not served")
        return items, version

    def list(self, kind: Kind, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return self._retrying(lambda: self.kube.list(kind, namespace, label_selector))


@dataclass
class EnvTimes:
    """Milestones (epoch seconds, benchmark clock) of one environment, keyed by namespace."""

    namespace: float | None = None
    config: dict[str, float] = field(default_factory=dict)  # "ConfigMap/x" -> first seen
    available: dict[str, float] = field(default_factory=dict)  # deployment -> first available
    namespace_gone: float | None = None


@dataclass
class DevEnvTimes:
    """Milestones of one DevEnvironment, keyed by its name."""

    conditions: dict[str, float] = field(default_factory=dict)  # type -> first True
    deleting: float | None = None  # first seen with a deletionTimestamp
    deletion_timestamp: str | None = None
    expires_at: str | None = None
    gone: float | None = None


class Tracker:
    """Watches namespaces, config, Deployments and DevEnvironments; records milestones."""

    WATCHED: tuple[tuple[Kind, str | None], ...] = (
        (kube.NAMESPACE, None), (kube.CONFIGMAP, LABEL), (kube.SECRET, LABEL),
        (kube.DEPLOYMENT, LABEL), (kube.DEVENV, None))

    def __init__(self, api: Api) -> None:
        self.api = api
        self.envs: dict[str, EnvTimes] = {}
        self.devenvs: dict[str, DevEnvTimes] = {}
        self.namespaces: set[str] = set()  # existing now
        self.devenv_names: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []
        # Called with (kind, event type, object, time) for every event, under the lock.
        self.observers: list[Callable[[Kind, str, Mapping[str, Any], float], None]] = []

    def start(self) -> None:
        for kind, selector in self.WATCHED:
            version = self._relist(kind, selector)
            thread = threading.Thread(target=self._run, args=(kind, selector, version),
                                      name=f"watch-{kind.kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _relist(self, kind: Kind, selector: str | None) -> str:
        """Record every existing object as ADDED; the resourceVersion to watch from."""
        items, version = self.api.list_versioned(kind, selector)
        now = time.time()
        with self._cond:
            for obj in items:
                self._record(kind, "ADDED", obj, now)
            self._cond.notify_all()
        return version

    def _run(self, kind: Kind, selector: str | None, version: str | None) -> None:
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist(kind, selector)
                for event in self.api.kube.watch(kind, version, label_selector=selector,
                                                 stopped=self._stop.is_set):
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":  # e.g. 410 Gone: relist
                        raise errors.from_status(int(obj.get("code", 500)), obj.get("reason", ""),
                                                 str(obj.get("message")), f"watch {kind.plural}")
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event["type"] == "BOOKMARK":
                        continue
                    now = time.time()
                    with self._cond:
                        self._record(kind, event["type"], obj, now)
                        self._cond.notify_all()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.errors.append(f"watch {kind.kind}: {exc}")
                time.sleep(0.5)
                version = None

    def _record(self, kind: Kind, etype: str, obj: Mapping[str, Any], now: float) -> None:
        for observer in self.observers:
            observer(kind, etype, obj, now)
        meta = obj.get("metadata", {})
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if kind == kube.NAMESPACE:
            times = self.envs.setdefault(name, EnvTimes())
            if etype == "DELETED":
                self.namespaces.discard(name)
                times.namespace_gone = times.namespace_gone or now
            else:
                self.namespaces.add(name)
                times.namespace = times.namespace or now
        elif kind in (kube.CONFIGMAP, kube.SECRET):
            if etype != "DELETED":
                self.envs.setdefault(ns, EnvTimes()).config.setdefault(f"{kind.kind}/{name}", now)
        elif kind == kube.DEPLOYMENT:
            replicas = int((obj.get("spec") or {}).get("replicas", 1))
            if etype != "DELETED" and deployment_available(obj, replicas):
                self.envs.setdefault(ns, EnvTimes()).available.setdefault(name, now)
        elif kind == kube.DEVENV:
            times_d = self.devenvs.setdefault(name, DevEnvTimes())
            if etype == "DELETED":
                self.devenv_names.discard(name)
                times_d.gone = times_d.gone or now
                return
            self.devenv_names.add(name)
            times_d.expires_at = (obj.get("status") or {}).get("expiresAt", times_d.expires_at)
            if meta.get("deletionTimestamp") and times_d.deleting is None:
                times_d.deleting = now
                times_d.deletion_timestamp = meta["deletionTimestamp"]
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond.get("status") == "True":
                    times_d.conditions.setdefault(cond["type"], now)

    def reset(self, namespaces: list[str], devenvs: list[str]) -> None:
        """Forget milestones of names about to be reused (after they are gone)."""
        with self._cond:
            for ns in namespaces:
                self.envs.pop(ns, None)
            for name in devenvs:
                self.devenvs.pop(name, None)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until predicate() (evaluated under the tracker's lock) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
            return True
