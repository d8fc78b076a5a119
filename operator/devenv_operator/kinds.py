"""PURE: where each kind the project uses lives in the API (group/version, plural, scope).

Imports nothing but the standard library, so the kubectl plugin can name kinds without
loading the Kubernetes client; ``kube`` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base


NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
CONFIGMAP = Kind("v1", "ConfigMap", "configmaps", namespaced=True)
SECRET = Kind("v1", "Secret", "secrets", namespaced=True)
SERVICE = Kind("v1", "Service", "services", namespaced=True)
POD = Kind("v1", "Pod", "pods", namespaced=True)
EVENT = Kind("v1", "Event", "events", namespaced=True)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments", namespaced=True)
JOB = Kind("batch/v1", "Job", "jobs", namespaced=True)
DEVENV = Kind("shipit.dev/v1alpha1", "DevEnvironment", "devenvironments", namespaced=False)
TEMPLATE = Kind("shipit.dev/v1alpha1", "DevEnvironmentTemplate", "devenvironmenttemplates",
                namespaced=False)
DEVENV_CLASS = Kind("shipit.dev/v1alpha1", "DevEnvironmentClass", "devenvironmentclasses",
                    namespaced=False)
PVC = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", namespaced=True)
RESOURCEQUOTA = Kind("v1", "ResourceQuota", "resourcequotas", namespaced=True)
LIMITRANGE = Kind("v1", "LimitRange", "limitranges", namespaced=True)
NETWORKPOLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", namespaced=True)
ROLEBINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings",
                   namespaced=True)
# Exposure: Gateway API (a CRD: may be missing from a cluster) and Ingress.
HTTPROUTE = Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", namespaced=True)
GATEWAY = Kind("gateway.networking.k8s.io/v1", "Gateway", "gateways", namespaced=True)
INGRESS = Kind("networking.k8s.io/v1", "Ingress", "ingresses", namespaced=True)
INGRESSCLASS = Kind("networking.k8s.io/v1", "IngressClass", "ingressclasses", namespaced=False)
KINDS = {k.kind: k for k in (NAMESPACE, CONFIGMAP, SECRET, SERVICE, POD, EVENT, DEPLOYMENT,
                             JOB, DEVENV, DEVENV_CLASS, TEMPLATE, RESOURCEQUOTA, LIMITRANGE,
                             NETWORKPOLICY, ROLEBINDING, PVC, HTTPROUTE, GATEWAY, INGRESS,
                             INGRESSCLASS)}
