"""What a job's pods say: why one that runs late is stuck, and the last lines of a failed
one's log.

A job whose Job is not finished a few seconds after it was created has its pods read (one
LIST for all such jobs of the environment) so that status can say what it waits for, and
fail the environment early when its pod is stuck for good (an image that keeps failing to
pull, a container the kubelet keeps refusing to create: ``pods.facts``, the thresholds of
services), instead of at readyTimeout.

The last lines of a failed job's log are read once, when the failure is first seen.

A Job that failed for good (condition Failed) keeps its failed pods; the newest one's
container log says why, and is what a user reading ``status.jobs[].message``, the
``JobFailed`` Event or ``kubectl devenv wait`` wants to see first. It is read once per
Job: the status written after it keeps the lines, and later runs take them from there (a
node that has gone, or a kubelet that does not answer, does not cost every reconcile a
timeout). What is shown is the job's own output, at most ``status.MAX_LOG_LINES`` lines:
the operator never reads a Secret to show it; a job that prints one publishes it itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from devenv_operator import builders, childkinds, errors, kube, status
from devenv_operator.children import POD_LOOK_AFTER
from devenv_operator.reasons import Reason
from devenv_operator.status.jobs import LOG_MARK, MAX_LOG_LINES, failure_message
from devenv_operator.steps.context import Context, Parts
from devenv_operator.transitions import Event

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on its pods
LOG_TIMEOUT = 5.0  # seconds: the API server asks the node's kubelet


def with_pods(parts: Parts, ctx: Context, jobs: list[status.JobObservation]
              ) -> list[status.JobObservation]:
    """The observations, with the pods of each job that is not finished and is late."""
    late = [o for o in jobs if _late(o, ctx)]
    if not late:
        return jobs
    env = ctx.environment()
    pods: dict[str, list[dict[str, Any]]] = {}
    for pod in parts.api.list(kube.POD, env.namespace,
                              label_selector=f"{builders.ENVIRONMENT_LABEL}={env.name},"
                                             f"{JOB_NAME_LABEL}"):
        owner = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL, "")
        pods.setdefault(owner, []).append(pod)
    return [replace(o, pods=tuple(pods.get(o.job_name, []))) if o in late else o
            for o in jobs]


def _late(obs: status.JobObservation, ctx: Context) -> bool:
    if obs.job is None or any(childkinds.job_condition(obs.job, c)
                              for c in ("Complete", "Failed")):
        return False
    created = status.parse_time(obs.job["metadata"].get("creationTimestamp"))
    return created is None or (ctx.now - created).total_seconds() >= POD_LOOK_AFTER


def with_failure_log(parts: Parts, ctx: Context,
                     obs: status.JobObservation) -> status.JobObservation:
    """The observation, with the log of its failed container if its Job failed: from the
    last status when it was read already, else read now (and announced in an Event)."""
    if obs.job is None or not childkinds.job_condition(obs.job, "Failed"):
        return obs
    known = _known_log(ctx.previous, obs)
    if known is not None:
        return replace(obs, log=known)
    log = status.trim_log(_read(parts.api, ctx.environment(), obs.job_name, obs.name))
    failed = replace(obs, log=log)
    ctx.events.append(Event("Warning", Reason.JOB_FAILED, (
        f"Job {obs.name} ({obs.job_name}) {failure_message(failed)}"
        f"{LOG_MARK}{log}")))
    return failed


def _known_log(previous: Mapping[str, Any], obs: status.JobObservation) -> str | None:
    for entry in previous.get("jobs") or []:
        if (entry.get("name") == obs.name and entry.get("jobName") == obs.job_name
                and entry.get("state") == "Failed"):
            _, marked, log = str(entry.get("message") or "").partition(LOG_MARK)
            if marked:
                return log
    return None


def _read(api: kube.Kube, env: builders.Env, job_name: str, container: str) -> str:
    """The newest failed pod's log (or why it cannot be read, in parentheses)."""
    selector = f"{builders.ENVIRONMENT_LABEL}={env.name},{JOB_NAME_LABEL}={job_name}"
    try:
        pods = api.list(kube.POD, env.namespace, label_selector=selector)
        failed = sorted((p for p in pods if (p.get("status") or {}).get("phase") == "Failed"),
                        key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
        if not failed:
            return "(no failed pod left to read the log of)"
        text = api.logs(env.namespace, failed[-1]["metadata"]["name"], container,
                        tail=MAX_LOG_LINES, timeout=LOG_TIMEOUT)
    except errors.KubeError as exc:
        return f"(log unavailable: {str(exc)[:300]})"
    return text if text.strip() else "(the container wrote no log)"
