"""PURE builders: a validated spec in, desired Kubernetes objects (plain dicts) out.

Nothing here imports the Kubernetes client, Kopf, the clock or the environment; randomness
and observed state come in as arguments. ``validate`` checks a spec first; ``reconcile.py``
applies what the builders return.
"""

from devenv_operator.builders.common import (
    ENVIRONMENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    UNCLASSED,
    Env,
    child_labels,
    namespace_name,
    reruns_of,
)
from devenv_operator.builders.config import (
    COPYABLE_LABEL,
    SecretProblem,
    build_config_maps,
    build_secrets,
    copy_sources,
    pull_secret_names,
)
from devenv_operator.builders.graph import creation_order, dependency_levels, find_cycle
from devenv_operator.builders.jobs import build_job, job_object_name
from devenv_operator.builders.namespace import (
    Ownership,
    build_namespace,
    namespace_ownership,
    orphan_creator,
    owned_by,
)
from devenv_operator.builders.routes import EXPOSURE_ANNOTATIONS
from devenv_operator.builders.services import (
    build_deployment,
    build_service,
    build_volume_claims,
)
from devenv_operator.builders.tenancy import build_class_objects
from devenv_operator.builders.validate import Validated, validate
from devenv_operator.jobs import RERUN_PREFIX

__all__ = [
    "COPYABLE_LABEL",
    "ENVIRONMENT_LABEL",
    "EXPOSURE_ANNOTATIONS",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "NAME_LABEL",
    "RERUN_PREFIX",
    "UNCLASSED",
    "Env",
    "Ownership",
    "SecretProblem",
    "Validated",
    "build_class_objects",
    "build_config_maps",
    "build_deployment",
    "build_job",
    "build_namespace",
    "build_secrets",
    "build_service",
    "build_volume_claims",
    "child_labels",
    "copy_sources",
    "creation_order",
    "dependency_levels",
    "find_cycle",
    "job_object_name",
    "namespace_name",
    "namespace_ownership",
    "orphan_creator",
    "owned_by",
    "pull_secret_names",
    "reruns_of",
    "validate",
]
