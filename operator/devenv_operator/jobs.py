"""The jobs of a DevEnvironment: one-shot ``Job`` s (a migration, a seed) that take part in
``dependsOn`` both ways, with the services.

These models are the ``spec.jobs`` of the DevEnvironment CRD; their descriptions are what
``kubectl explain devenv.spec.jobs`` prints. A job's container is described with the very
types of a service's (environment, resources, securityContext), so it is bounded by the
class in the same way. Cross-workload checks (a name unique among services and jobs, a
``dependsOn`` naming a known one, no cycle) belong to the spec, not here.

Pure: no Kubernetes client, no clock, no environment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from devenv_operator.fields import (
    ATOMIC_LIST,
    DNS1035_LABEL,
    QUANTITY_RE,
    SET_LIST,
    Model,
    cel_rules,
    map_list,
)
from devenv_operator.volumes import MAX_VOLUMES, VOLUME_LIST, Volume, claims_of, distinct
from devenv_operator.workloads import (
    MAX_JOBS,
    MAX_SERVICES,
    EnvFromSource,
    EnvVar,
    Resources,
    SecurityContext,
)

# A Job's object name is <job>-<10 hex digits of its rendered spec>, and Job names become
# the job-name label of its pods (63 characters at most): 52 + 1 + 10.
MAX_JOB_NAME = 52
DEFAULT_BACKOFF_LIMIT = 1
# On a DevEnvironment: rerun.shipit.dev/<job> = a nonce (``kubectl devenv rerun-job`` writes
# the time). It is part of the job's rendered spec, so a new value makes a new Job.
RERUN_PREFIX = "rerun.shipit.dev/"

WorkloadName = Annotated[str, Field(max_length=63, pattern=DNS1035_LABEL)]


class Job(Model):
    """A one-shot workload: a batch/v1 Job run to completion once its dependencies are
    ready; services and jobs that depend on it wait until it has completed."""

    model_config = ConfigDict(json_schema_extra=cel_rules(
        ("!has(self.dependsOn) || !(self.name in self.dependsOn)",
         "a job cannot depend on itself"),
    ))

    name: str = Field(
        max_length=MAX_JOB_NAME, pattern=DNS1035_LABEL,
        description="Job name (DNS-1035 label, at most 52 characters), unique among the "
        "environment's services and jobs. Its Job object is named <name>-<hash of its "
        "rendered spec>.")
    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, description="Always, IfNotPresent or Never, as on a core Container.")
    working_dir: str | None = Field(
        None, min_length=1, max_length=1024, pattern=r"^/",
        description="Absolute path the container starts in (default: the image's).")
    command: list[str] | None = Field(
        None, json_schema_extra=ATOMIC_LIST, description="Entrypoint, as on a core Container.")
    args: list[str] | None = Field(
        None, json_schema_extra=ATOMIC_LIST, description="Arguments, as on a core Container.")
    env: list[EnvVar] | None = Field(
        None, max_length=200, json_schema_extra=map_list("name"),
        description="Environment variables; may reference seeded ConfigMaps and Secrets.")
    env_from: list[EnvFromSource] | None = Field(
        None, max_length=50, json_schema_extra=ATOMIC_LIST,
        description="Environment from whole seeded ConfigMaps or Secrets.")
    resources: Resources | None = Field(
        None, description="Compute requests and limits; those left out come from the "
        "class's limitRange defaults, as for a service.")
    security_context: SecurityContext | None = Field(
        None, description="User, group and capabilities of the container, within what the "
        "class's workloadSecurity allows, as for a service.")
    backoff_limit: int = Field(
        DEFAULT_BACKOFF_LIMIT, ge=0, le=10,
        description="Retries before the job counts as failed (0..10, default 1: two "
        "attempts). A failed job fails the environment (JobFailed).")
    active_deadline_seconds: int | None = Field(
        None, ge=1, le=86400,
        description="How long the job may run, over all its attempts, before it fails.")
    volumes: list[Volume] | None = Field(
        None, max_length=MAX_VOLUMES, json_schema_extra=VOLUME_LIST,
        description="Volumes mounted into the container, as for a service: emptyDir, or "
        "persistent (size: a PersistentVolumeClaim <job>-<volume>, kept across reruns).")
    depends_on: list[WorkloadName] | None = Field(
        None, max_length=MAX_SERVICES + MAX_JOBS - 1, json_schema_extra=SET_LIST,
        description="Services (Available) and jobs (Complete) that must be ready before "
        "this job is created.")

    @field_validator("volumes")
    @classmethod
    def _distinct_volumes(cls, value: list[Volume] | None) -> list[Volume] | None:
        return distinct(value)

    def claims(self) -> list[tuple[str, Volume]]:
        """(claim name, volume) of each persistent volume."""
        return claims_of(self.name, self.volumes)

    @field_validator("resources")
    @classmethod
    def _quantities(cls, value: Resources | None) -> Resources | None:
        for group in (value.requests, value.limits) if value else ():
            for key, qty in (group or {}).items():
                if isinstance(qty, str) and not QUANTITY_RE.fullmatch(qty):
                    raise ValueError(f"resources {key}: {qty!r} is not a quantity")
        return value
