"""The only module that talks to the Kubernetes API (through the official ``kubernetes`` client).

Objects are plain dicts in and out: we use the client for configuration, authentication and
connection pooling, and speak JSON ourselves, which keeps this layer small and cheap. Every
``ApiException`` and connection failure is translated here into the few error types of
``errors.py``; nothing above this module sees the client's exceptions.

All calls are blocking: run them in a worker thread, never directly on the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from devenv_operator import errors
from devenv_operator.kinds import (  # re-exported: callers name kinds as kube.X
    CONFIGMAP,
    DEPLOYMENT,
    DEVENV,
    DEVENV_CLASS,
    EVENT,
    GATEWAY,
    HTTPROUTE,
    INGRESS,
    INGRESSCLASS,
    JOB,
    KINDS,
    LIMITRANGE,
    NAMESPACE,
    NETWORKPOLICY,
    POD,
    PVC,
    RESOURCEQUOTA,
    ROLEBINDING,
    SECRET,
    SERVICE,
    TEMPLATE,
    Kind,
)

__all__ = ["CONFIGMAP", "DEPLOYMENT", "DEVENV", "DEVENV_CLASS", "EVENT", "FIELD_MANAGER",
           "GATEWAY", "HTTPROUTE", "INGRESS", "INGRESSCLASS", "JOB",
           "KINDS",
           "LIMITRANGE", "NAMESPACE", "NETWORKPOLICY", "POD", "PVC", "RESOURCEQUOTA",
           "ROLEBINDING",
           "SECRET", "SERVICE", "TEMPLATE", "Kind", "Kube", "Transport", "load_api_client",
           "transport"]
log = logging.getLogger("devenv_operator.kube")
FIELD_MANAGER = "devenv-operator"
# A JSON merge patch, or a JSON patch (RFC 6902): a list of operations.
Patch = Mapping[str, Any] | list[dict[str, Any]]
RequestHook = Callable[[str, str], None]  # (verb, result) -> None, for metrics


def load_api_client(kubeconfig: str | None = None, pool_size: int = 32) -> k8s_client.ApiClient:
    """An ApiClient from in-cluster credentials, else from a kubeconfig (KUBECONFIG/default)."""
    configuration = k8s_client.Configuration()
    try:
        if kubeconfig:
            raise k8s_config.ConfigException("explicit kubeconfig")
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration)
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return k8s_client.ApiClient(configuration)


@dataclass(frozen=True)
class Transport:
    """What we use of the official client: the server, its connection pool, its auth."""

    host: str
    pool: urllib3.PoolManager
    authorize: Callable[[dict[str, str], str, str], None]  # (headers, path, method)


def transport(api_client: k8s_client.ApiClient) -> Transport:
    """The official client's internals that this module relies on, in one place.

    We speak JSON ourselves over the client's configured connection pool and let it add
    its credentials (bearer token, refreshed by its exec/OIDC plugins). Neither the pool
    (``ApiClient.rest_client.pool_manager``) nor ``update_params_for_auth`` is a documented
    API of the client, so a client upgrade could move them: ``tests/unit/test_kube.py``
    builds a client and calls this function, and fails loudly if either is gone.
    """
    pool = api_client.rest_client.pool_manager
    if not isinstance(pool, urllib3.PoolManager):
        raise TypeError(f"kubernetes client changed: rest_client.pool_manager is {type(pool)}")

    def authorize(headers: dict[str, str], path: str, method: str) -> None:
        api_client.update_params_for_auth(headers, None, ["BearerToken"], path, method, None)

    return Transport(str(api_client.configuration.host), pool, authorize)


class Kube:
    """Blocking JSON access to the API with server-side apply and error translation."""

    def __init__(self, api_client: k8s_client.ApiClient, *, on_request: RequestHook | None = None,
                 timeout: float = 30.0, field_manager: str = FIELD_MANAGER) -> None:
        self._transport = transport(api_client)
        self._field_manager = field_manager  # apply's fieldManager and our User-Agent
        self._on_request = on_request
        self._timeout = timeout
        self._event_failures: set[str] = set()

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, verb: str, method: str, path: str, *,
              query: Mapping[str, str] | None = None, body: Any = None,
              content_type: str = "application/json", text: bool = False,
              timeout: float | None = None) -> Any:
        """One request; ``verb`` is the Kubernetes verb it counts as (get, list, patch...).
        The answer as JSON, or with ``text`` as text (a log)."""
        url = self._transport.host + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "*/*" if text else "application/json",
                   "User-Agent": self._field_manager}
        payload: bytes | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = json.dumps(body).encode()
        self._transport.authorize(headers, path, method)
        try:
            response = self._transport.pool.request(
                method, url, body=payload, headers=headers, timeout=timeout or self._timeout,
                preload_content=True, retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._record(verb, "error")
            raise errors.Transient(f"{method} {path}: {exc}") from exc
        self._record(verb, str(response.status))
        data = response.data
        if 200 <= response.status < 300:
            if text:
                return data.decode(errors="replace")
            return json.loads(data) if data else None
        reason, message = _status_of(data)
        raise errors.from_status(response.status, reason, message, f"{method} {path}")

    def _record(self, verb: str, result: str) -> None:
        if self._on_request is not None:
            self._on_request(verb, result)

    # -- verbs -------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            result: dict[str, Any] = self._call("get", "GET", kind.path(namespace, name))
        except errors.NotFound:
            return None
        return result

    def list_versioned(self, kind: Kind, namespace: str | None = None,
                       label_selector: str | None = None, *, field_selector: str | None = None
                       ) -> tuple[list[dict[str, Any]], str | None]:
        """The items, and the resourceVersion the list was taken at."""
        query = {k: v for k, v in (("labelSelector", label_selector),
                                   ("fieldSelector", field_selector)) if v} or None
        try:
            result = self._call("list", "GET", kind.path(namespace), query=query)
        except errors.NotFound:
            return [], None
        items: list[dict[str, Any]] = result.get("items") or []
        for item in items:  # list responses omit these on each item
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items, (result.get("metadata") or {}).get("resourceVersion")

    def list(self, kind: Kind, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict[str, Any]]:
        return self.list_versioned(kind, namespace, label_selector)[0]

    def watch(self, kind: Kind, resource_version: str, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int = 1800, stopped: Callable[[], bool] = lambda: False
              ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type", "object"}``) after ``resource_version``, until the server
        ends the stream or ``stopped()`` says so (checked between chunks); a stream that
        breaks off raises errors.Transient.

        The operator itself watches through Kopf; this is for tools (the benchmarks, the
        kubectl plugin).
        """
        query = {"watch": "1", "resourceVersion": resource_version,
                 "allowWatchBookmarks": "true", "timeoutSeconds": str(max(1, timeout_seconds))}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        path = kind.path(namespace)
        headers = {"Accept": "application/json", "User-Agent": self._field_manager}
        self._transport.authorize(headers, path, "GET")
        try:
            response = self._transport.pool.request(
                "GET", f"{self._transport.host}{path}?{urlencode(query)}", headers=headers,
                preload_content=False, retries=False,
                timeout=urllib3.Timeout(connect=10, read=timeout_seconds + 30))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._record("watch", "error")
            raise errors.Transient(f"GET {path} (watch): {exc}") from exc
        self._record("watch", str(response.status))
        try:
            if response.status != 200:
                reason, message = _status_of(response.read())
                raise errors.from_status(response.status, reason, message, f"GET {path}")
            buffer = b""
            for chunk in response.stream(65536, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
                if stopped():
                    return
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.Transient(f"GET {path} (watch) broke off: {exc}") from exc
        finally:
            response.release_conn()

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail: int = 30, timeout: float = 10.0) -> str:
        """The last ``tail`` lines of a container's log (its previous instance's with
        ``previous``). The API server asks the node's kubelet, which may not answer: a short
        ``timeout``. The kubectl plugin reads them for its reports; the operator reads the
        last lines of a failed job's container, once, for ``status.jobs[].message``."""
        query = {"container": container, "tailLines": str(tail)}
        if previous:
            query["previous"] = "true"
        text: str = self._call("get", "GET", POD.path(namespace, pod, "log"), query=query,
                               text=True, timeout=timeout)
        return text

    def create(self, kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
        """POST; raises errors.AlreadyExists when the name is taken."""
        namespace = obj.get("metadata", {}).get("namespace")
        result: dict[str, Any] = self._call("create", "POST", kind.path(namespace), body=obj)
        return result

    def apply(self, kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply with our field manager (force: we own the fields we set)."""
        meta = obj.get("metadata", {})
        query = {"fieldManager": self._field_manager, "force": "true"}
        result: dict[str, Any] = self._call(
            "patch", "PATCH", kind.path(meta.get("namespace"), meta["name"]), query=query,
            body=obj,
            content_type="application/apply-patch+yaml")
        return result

    def patch(self, kind: Kind, name: str, patch: Patch, namespace: str | None = None,
              subresource: str | None = None) -> dict[str, Any] | None:
        """Merge patch, or JSON patch when a list (it removes list items); None when gone."""
        kind_of = "json-patch" if isinstance(patch, list) else "merge-patch"
        try:
            result: dict[str, Any] = self._call(
                "patch", "PATCH", kind.path(namespace, name, subresource), body=patch,
                content_type=f"application/{kind_of}+json")
        except errors.NotFound:
            return None
        return result

    def delete(self, kind: Kind, name: str, namespace: str | None = None,
               uid: str | None = None) -> bool:
        """Delete in the background; True if a deletion was requested, False if already gone.

        With ``uid``, the API server refuses to delete an object that is not that very one.
        """
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1",
                                "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self._call("delete", "DELETE", kind.path(namespace, name), body=body)
        except errors.NotFound:
            return False
        return True

    def event(self, involved: Mapping[str, Any], event_type: str, reason: str,
              message: str, namespace: str = "default", at: datetime | None = None) -> None:
        """Record an Event on an object (cluster-scoped objects get theirs in ``default``).

        ``at`` is when it happened, if the Event is posted later (from a queue).
        """
        event = event_object(involved, event_type, reason, message, namespace, at)
        # Events are best effort (the status carries the same facts), but say once why they
        # fail, e.g. missing RBAC.
        try:
            self.create(EVENT, event)
        except errors.KubeError as exc:
            kind = type(exc).__name__
            if kind not in self._event_failures:
                self._event_failures.add(kind)
                log.warning("Cannot record Events (%s): %s", kind, exc)


def event_object(involved: Mapping[str, Any], event_type: str, reason: str, message: str,
                 namespace: str = "default", at: datetime | None = None) -> dict[str, Any]:
    """The Event (core/v1) that records ``reason`` on ``involved``, happened ``at``."""
    meta = involved.get("metadata", {})
    now = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    target_ns = meta.get("namespace") or namespace
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'devenv')}.", "namespace": target_ns},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "namespace": meta.get("namespace") or "",
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": FIELD_MANAGER,
        "firstTimestamp": now[:19] + "Z",
        "lastTimestamp": now[:19] + "Z",
        "eventTime": now,
        "action": reason,
        "count": 1,
    }


def _status_of(data: bytes) -> tuple[str, str]:
    """(reason, message) of a ``metav1.Status`` answer; ("", the text) when it is not one."""
    try:
        answer = json.loads(data)
    except ValueError:
        return "", data.decode(errors="replace")[:500]
    if isinstance(answer, dict):
        reason = answer.get("reason")
        message = answer.get("message") or reason or answer
        return (reason if isinstance(reason, str) else ""), str(message)
    return "", str(answer)
