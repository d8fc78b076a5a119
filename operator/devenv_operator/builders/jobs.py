"""A job of the environment: its batch/v1 Job, named after a hash of its rendered spec.

A Job's pod template cannot be changed once created, and a Job that has completed is the
record that it ran: so the Job is never updated. Its name is ``<job>-<hash>`` of the spec
it is rendered to (the container, the class's hardening and resource defaults, the
backoffLimit and deadline, and the nonce of the latest ``kubectl devenv rerun-job``): the
same spec is the same Job, which runs once; a changed one is a new Job, and the older one
is pruned. ``ttlSecondsAfterFinished`` stays unset, so the completed Job stays.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from devenv_operator import models
from devenv_operator.builders.common import Env, child_labels, metadata
from devenv_operator.builders.services import container, pod_volumes, security
from devenv_operator.builders.tenancy import pod_security
from devenv_operator.jobs import RERUN_PREFIX

HASH_LENGTH = 10
# The pod template's annotation with the nonce of the latest rerun asked for.
RERUN_ANNOTATION = RERUN_PREFIX + "nonce"


def job_spec(env: Env, job: models.Job) -> dict[str, Any]:
    """The Job's spec, as rendered for this environment."""
    pod, context = security(job, *pod_security(env))
    if job.volumes:
        pod = {**pod, "volumes": pod_volumes(job)}
    template_meta: dict[str, Any] = {"labels": child_labels(env, job.name)}
    nonce = env.reruns.get(job.name)
    if nonce:
        template_meta["annotations"] = {RERUN_ANNOTATION: nonce}
    spec: dict[str, Any] = {
        "backoffLimit": job.backoff_limit,
        "template": {
            "metadata": template_meta,
            "spec": {
                "containers": [container(env, job, context)],
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 5,
                "enableServiceLinks": False,
                **pod,
            },
        },
    }
    if job.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = job.active_deadline_seconds
    return spec


def spec_hash(spec: dict[str, Any]) -> str:
    encoded = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:HASH_LENGTH]


def job_object_name(env: Env, job: models.Job) -> str:
    """``<job>-<hash of its rendered spec>``: what the Job of this spec is called."""
    return f"{job.name}-{spec_hash(job_spec(env, job))}"


def build_job(env: Env, job: models.Job) -> dict[str, Any]:
    spec = job_spec(env, job)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(env, f"{job.name}-{spec_hash(spec)}", job.name),
        "spec": spec,
    }
