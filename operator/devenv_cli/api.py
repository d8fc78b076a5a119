"""The plugin's access to the API: configuration as kubectl does it, and the calls it needs.

The one module of the plugin that uses the ``kubernetes`` client (and ``kube``, which wraps
it), for configuration and authentication only (as ``kube.py`` does). Both are imported
inside the functions that connect, never at module level: ``--help``, ``--version`` and an
offline ``render -f`` do not talk to a cluster, and importing the client is most of the
plugin's start-up time (about 0.8 s of CPU). Everyday verbs go through ``kube.Kube``; what
it lacks (watching one object by name, who am I) is here, over the same connection pool
and credentials (``kube.transport``), with the same error types (``errors.py``).

Configuration follows kubectl: ``--kubeconfig``, else ``KUBECONFIG``, else
``~/.kube/config``; ``--context``; inside a pod with none of these, the pod's
ServiceAccount. ``--as``/``--as-group`` impersonate, like kubectl's flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv_operator import kinds
from devenv_operator.owners import Owner

if TYPE_CHECKING:
    from kubernetes import client as k8s_client

FIELD_MANAGER = "kubectl-devenv"
SELF_SUBJECT_REVIEW = kinds.Kind("authentication.k8s.io/v1", "SelfSubjectReview",
                                 "selfsubjectreviews", namespaced=False)


class ConfigError(Exception):
    """Raised when no usable kubeconfig or in-cluster configuration is found."""


@dataclass(frozen=True)
class Connection:
    """How to reach the cluster: kubectl's flags, as given."""

    kubeconfig: str | None = None
    context: str | None = None
    as_user: str | None = None
    as_group: str | None = None

    def flags(self) -> list[str]:
        """The same flags for kubectl, which the plugin hands some commands to."""
        pairs = (("--kubeconfig", self.kubeconfig), ("--context", self.context),
                 ("--as", self.as_user), ("--as-group", self.as_group))
        return [f"{flag}={value}" for flag, value in pairs if value]


@dataclass(frozen=True)
class Identity:
    """Who the API server says we are."""

    username: str
    groups: tuple[str, ...]

    def owns(self, owner: str | None) -> bool:
        """Whether ``spec.owner`` names us or one of our groups (``group:<g>``)."""
        if not owner:
            return False
        return Owner.parse(owner).held_by(self.username, self.groups)


def _kubeconfig_files(explicit: str | None, environ: Mapping[str, str]) -> list[str]:
    if explicit:
        return [explicit]
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return [p for p in listed if Path(p).is_file()]
    default = Path.home() / ".kube" / "config"
    return [str(default)] if default.is_file() else []


def api_client(conn: Connection, environ: Mapping[str, str] | None = None
               ) -> k8s_client.ApiClient:
    """A client for ``conn``; raises ConfigError with a sentence a user can act on."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    environ = os.environ if environ is None else environ
    configuration = k8s_client.Configuration()
    files = _kubeconfig_files(conn.kubeconfig, environ)
    try:
        if files:
            if conn.kubeconfig and not Path(conn.kubeconfig).is_file():
                raise ConfigError(f"kubeconfig {conn.kubeconfig} does not exist")
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=files[0], context=conn.context,
                client_configuration=configuration)
        elif "KUBERNETES_SERVICE_HOST" in environ and not conn.context:
            try:
                k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration)
            except k8s_config.ConfigException as exc:
                raise ConfigError(f"no kubeconfig, and cannot use the pod's ServiceAccount: "
                                  f"{exc}") from exc
        else:
            where = environ.get("KUBECONFIG") or "~/.kube/config"
            raise ConfigError(f"no kubeconfig found (looked at {where}); set KUBECONFIG or "
                              "pass --kubeconfig")
    except k8s_config.ConfigException as exc:
        raise ConfigError(f"cannot use the kubeconfig: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the kubeconfig: {exc}") from exc
    configuration.connection_pool_maxsize = 4
    if conn.as_user or conn.as_group:
        return _impersonating(configuration, conn.as_user, conn.as_group)
    return k8s_client.ApiClient(configuration)


def _impersonating(configuration: k8s_client.Configuration, user: str | None,
                   group: str | None) -> k8s_client.ApiClient:
    """An ApiClient that adds kubectl's ``--as``/``--as-group`` headers to every request
    (the official client has no impersonation setting; ``update_params_for_auth`` is the
    hook ``kube.transport`` uses for credentials, so every request made through it carries
    them). The class is made here, not at module level, so that the client is imported
    only to connect."""
    from kubernetes import client as k8s_client

    class ImpersonatingClient(k8s_client.ApiClient):
        def update_params_for_auth(self, headers: dict[str, Any], *args: Any,
                                   **kwargs: Any) -> None:
            super().update_params_for_auth(headers, *args, **kwargs)
            if user:
                headers["Impersonate-User"] = user
            # One group: the API server reads one group per Impersonate-Group header line,
            # and the headers here are a plain dict (one value per name).
            if group:
                headers["Impersonate-Group"] = group

    return ImpersonatingClient(configuration)


def connect(conn: Connection, environ: Mapping[str, str] | None = None) -> Api:
    """The API as ``conn`` reaches it; raises ConfigError as ``api_client`` does."""
    return Api(api_client(conn, environ))


class Api:
    """``kube.Kube`` for the everyday verbs, plus the few calls the plugin needs besides."""

    def __init__(self, client: k8s_client.ApiClient, timeout: float = 30.0) -> None:
        from devenv_operator import kube

        self.kube = kube.Kube(client, timeout=timeout, field_manager=FIELD_MANAGER)
        self.host = kube.transport(client).host  # which cluster, for messages and tests

    def list(self, kind: kinds.Kind, namespace: str | None = None, *,
             field_selector: str | None = None, label_selector: str | None = None,
             ) -> tuple[list[dict[str, Any]], str]:
        """The items and the list's resourceVersion."""
        items, version = self.kube.list_versioned(kind, namespace, label_selector,
                                                  field_selector=field_selector)
        return items, version or ""

    def get(self, kind: kinds.Kind, name: str, namespace: str | None = None
            ) -> dict[str, Any] | None:
        return self.kube.get(kind, name, namespace)

    def watch_one(self, kind: kinds.Kind, name: str, resource_version: str, *,
                  timeout_seconds: int, stopped: Callable[[], bool] = lambda: False
                  ) -> Iterator[dict[str, Any]]:
        """Watch events of one object (by name) after ``resource_version``."""
        return self.kube.watch(kind, resource_version, field_selector=f"metadata.name={name}",
                               timeout_seconds=timeout_seconds, stopped=stopped)

    def logs(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail: int = 30, timeout: float = 10.0) -> str:
        return self.kube.logs(namespace, pod, container, previous=previous, tail=tail,
                              timeout=timeout)

    def whoami(self) -> Identity:
        """Who we are, from a SelfSubjectReview (authentication.k8s.io/v1)."""
        review = self.kube.create(SELF_SUBJECT_REVIEW, {
            "apiVersion": SELF_SUBJECT_REVIEW.api_version, "kind": SELF_SUBJECT_REVIEW.kind})
        info = (review.get("status") or {}).get("userInfo") or {}
        return Identity(str(info.get("username") or ""), tuple(info.get("groups") or ()))

