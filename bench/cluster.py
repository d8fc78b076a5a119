"""A small direct API client and the watches that timestamp what happens in the cluster.

``Api`` speaks JSON over the kubeconfig's credentials (the official client only loads the
config and pools connections); it is the "direct client" of the floor baseline. ``Tracker``
runs one watch per kind in threads and records, on the benchmark's clock, when each
namespace, config object, Deployment and DevEnvironment reached each milestone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from devenv_operator.status import deployment_available

FIELD_MANAGER = "devenv-bench"
LABEL = "shipit.dev/environment"
RETRIES = 20


class ApiError(RuntimeError):
    """Raised when the API answers a request with a non-2xx status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.status = status


@dataclass(frozen=True)
class Kind:
    prefix: str  # /api/v1 or /apis/group/version
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = self.prefix
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS = {
    "Namespace": Kind("/api/v1", "namespaces", False),
    "ConfigMap": Kind("/api/v1", "configmaps", True),
    "Secret": Kind("/api/v1", "secrets", True),
    "Service": Kind("/api/v1", "services", True),
    "Deployment": Kind("/apis/apps/v1", "deployments", True),
    "Event": Kind("/api/v1", "events", True),
    "DevEnvironment": Kind("/apis/shipit.dev/v1alpha1", "devenvironments", False),
}


class Api:
    """Blocking JSON requests; safe to share between threads."""

    def __init__(self, kubeconfig: str, pool_size: int = 32) -> None:
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration)
        configuration.connection_pool_maxsize = pool_size
        self._client = k8s_client.ApiClient(configuration)
        self.host: str = configuration.host
        self.retries = 0  # reported: a floor that had to retry is no floor

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": FIELD_MANAGER}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                body: Any = None, content_type: str = "application/json",
                timeout: float = 60.0) -> Any:
        url = self.host + path + ("?" + urlencode(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(RETRIES + 1):
            resp = self._client.rest_client.pool_manager.request(
                method, url, body=payload, timeout=timeout, retries=False,
                headers=self._headers(content_type if payload else None))
            # Throttling or a just-registered CRD's storage warming up: retry, then give up.
            if resp.status not in (429, 503) or attempt == RETRIES:
                break
            self.retries += 1
            time.sleep(0.5)
        if not 200 <= resp.status < 300:
            raise ApiError(resp.status, resp.data.decode(errors="replace"))
        return json.loads(resp.data) if resp.data else None

    def apply(self, obj: Mapping[str, Any]) -> Any:
        """Server-side apply (force) with the benchmark's field manager."""
        meta = obj["metadata"]
        path = KINDS[obj["kind"]].path(meta.get("namespace"), meta["name"])
        return self.request("PATCH", path, body=obj, content_type="application/apply-patch+yaml",
                            query={"fieldManager": FIELD_MANAGER, "force": "true"})

    def create(self, obj: Mapping[str, Any]) -> Any:
        kind = KINDS[obj["kind"]]
        return self.request("POST", kind.path(obj["metadata"].get("namespace")), body=obj)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.request("DELETE", KINDS[kind].path(namespace, name),
                         body={"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None
             ) -> dict[str, Any]:
        query = {"labelSelector": selector} if selector else None
        result: dict[str, Any] = self.request("GET", KINDS[kind].path(namespace), query=query)
        return result

    def watch(self, kind: str, resource_version: str, selector: str | None,
              stop: threading.Event) -> Iterator[dict[str, Any]]:
        """Watch events (dicts with type and object) from a resourceVersion until stopped."""
        query = {"watch": "1", "resourceVersion": resource_version,
                 "allowWatchBookmarks": "true", "timeoutSeconds": "1800"}
        if selector:
            query["labelSelector"] = selector
        url = self.host + KINDS[kind].path() + "?" + urlencode(query)
        resp = self._client.rest_client.pool_manager.request(
            "GET", url, headers=self._headers(), preload_content=False, retries=False,
            timeout=urllib3.Timeout(connect=10, read=None))
        try:
            if resp.status != 200:
                raise ApiError(resp.status, resp.read().decode(errors="replace"))
            buffer = b""
            for chunk in resp.stream(65536, decode_content=True):
                if stop.is_set():
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


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

    WATCHED = (("Namespace", None), ("ConfigMap", LABEL), ("Secret", LABEL),
               ("Deployment", LABEL), ("DevEnvironment", None))

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

    def start(self) -> None:
        for kind, selector in self.WATCHED:
            listing = self.api.list(kind, selector=selector)
            now = time.time()
            with self._cond:
                for obj in listing.get("items") or []:
                    self._record(kind, "ADDED", obj, now)
            rv = listing["metadata"]["resourceVersion"]
            thread = threading.Thread(target=self._run, args=(kind, selector, rv),
                                      name=f"watch-{kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()

    def _run(self, kind: str, selector: str | None, rv: str) -> None:
        while not self._stop.is_set():
            try:
                for event in self.api.watch(kind, rv, selector, self._stop):
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        raise ApiError(int(obj.get("code", 500)), str(obj.get("message")))
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event["type"] == "BOOKMARK":
                        continue
                    now = time.time()
                    with self._cond:
                        self._record(kind, event["type"], obj, now)
                        self._cond.notify_all()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.errors.append(f"watch {kind}: {exc}")
                time.sleep(0.5)
                listing = self.api.list(kind, selector=selector)
                now = time.time()
                with self._cond:
                    for obj in listing.get("items") or []:
                        self._record(kind, "ADDED", obj, now)
                    self._cond.notify_all()
                rv = listing["metadata"]["resourceVersion"]

    def _record(self, kind: str, etype: str, obj: Mapping[str, Any], now: float) -> None:
        meta = obj.get("metadata", {})
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if kind == "Namespace":
            times = self.envs.setdefault(name, EnvTimes())
            if etype == "DELETED":
                self.namespaces.discard(name)
                times.namespace_gone = times.namespace_gone or now
            else:
                self.namespaces.add(name)
                times.namespace = times.namespace or now
        elif kind in ("ConfigMap", "Secret"):
            if etype != "DELETED":
                self.envs.setdefault(ns, EnvTimes()).config.setdefault(f"{kind}/{name}", now)
        elif kind == "Deployment":
            replicas = int((obj.get("spec") or {}).get("replicas", 1))
            if etype != "DELETED" and deployment_available(obj, replicas):
                self.envs.setdefault(ns, EnvTimes()).available.setdefault(name, now)
        elif kind == "DevEnvironment":
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
