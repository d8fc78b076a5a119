"""PURE: one job's entry in ``status.jobs``, and the ``JobsComplete`` condition.

A job is Pending (waiting for its dependencies, or for its pod), Running, Complete or
Failed, as its Job's own status says (conditions Complete and Failed, the counts of its
pods). A failed job fails the environment (``JobFailed``); its entry carries the last
lines of the failed container's log, which the reconcile read once, at the failure. A job
whose pod is stuck for good (``pods.facts``: ImagePullFailed, ContainerCreateFailed) fails
it early too, with that reason, as a service does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from devenv_operator.pods import FailFast, facts
from devenv_operator.reasons import STUCK, Condition, Reason
from devenv_operator.status.observe import JobObservation

# A failed job's log in its status, at most (the user's own output, shown as it is).
MAX_LOG_LINES = 10
MAX_LOG_BYTES = 2048
LOG_MARK = "\nlast log lines:\n"  # where the log starts in a failed job's message


def trim_log(text: str) -> str:
    """The last ``MAX_LOG_LINES`` lines of a log, and at most ``MAX_LOG_BYTES`` of them."""
    lines = text.rstrip("\n").splitlines()[-MAX_LOG_LINES:]
    tail = "\n".join(lines).encode()[-MAX_LOG_BYTES:]
    return tail.decode(errors="ignore")


def _condition(job: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return dict(cond)
    return None


def attempts(job: Mapping[str, Any]) -> int:
    """Pods the Job started: failed, running and succeeded."""
    status = job.get("status") or {}
    return sum(int(status.get(key) or 0) for key in ("failed", "active", "succeeded"))


def _plural(count: int) -> str:
    return f"{count} attempt" + ("" if count == 1 else "s")


def failure_message(obs: JobObservation) -> str:
    """Why a failed job failed (one line), as the Job says it."""
    failed = _condition(obs.job or {}, "Failed") or {}
    why = str(failed.get("reason") or "Failed")
    detail = str(failed.get("message") or "").strip()
    text = f"failed after {_plural(attempts(obs.job or {}))}: {why}"
    return f"{text}: {detail}" if detail else text


def _pending(obs: JobObservation, out: dict[str, Any]) -> dict[str, Any]:
    if obs.error is not None:
        return {**out, "reason": Reason.APPLY_FAILED,
                "message": f"ApplyFailed: {obs.error.message}"}
    if obs.waiting_for:
        return {**out, "reason": Reason.DEPENDENCY_NOT_READY,
                "message": f"DependencyNotReady: waiting for {', '.join(obs.waiting_for)}"}
    return {**out, "reason": Reason.JOB_PENDING, "message": "not created yet"}


def _stuck(obs: JobObservation, out: dict[str, Any], now: datetime,
           rules: FailFast) -> dict[str, Any] | None:
    """The entry of a job whose pod is stuck for good (ImagePullFailed, ...), else None."""
    found = facts(obs.pods, now, rules) if obs.pods else None
    if found is None or found.stuck_reason is None:
        return None
    return {**out, "reason": found.stuck_reason,
            "message": f"{found.stuck_reason}: {found.stuck_message}"}


def job_status(obs: JobObservation, now: datetime | None = None,
               rules: FailFast | None = None) -> dict[str, Any]:
    """One entry of ``status.jobs`` (``now`` and ``rules``: when its pods are stuck)."""
    out: dict[str, Any] = {"name": obs.name, "jobName": obs.job_name, "state": "Pending",
                           "attempts": 0, "message": ""}
    job = obs.job
    if job is None or obs.error is not None:
        return _pending(obs, out)
    status = job.get("status") or {}
    out["attempts"] = attempts(job)
    if status.get("startTime"):
        out["startedAt"] = status["startTime"]
    if _condition(job, "Complete") is not None:
        completed = status.get("completionTime")
        return {**out, "state": "Complete", "reason": Reason.JOB_COMPLETE,
                **({"completedAt": completed} if completed else {})}
    if _condition(job, "Failed") is not None:
        message = failure_message(obs)
        if obs.log:
            message += LOG_MARK + trim_log(obs.log)
        return {**out, "state": "Failed", "reason": Reason.JOB_FAILED, "message": message}
    if int(status.get("active") or 0) > 0:
        out = {**out, "state": "Running", "reason": Reason.JOB_RUNNING,
               "message": f"running ({_plural(out['attempts'])})"}
    else:
        out = {**out, "reason": Reason.JOB_PENDING, "message": "waiting for its pod to start"}
    stuck = _stuck(obs, out, now, rules or FailFast()) if now is not None else None
    return stuck or out


def last_line(message: str) -> str:
    """The last log line of a failed job's message, or empty."""
    _, _, log = message.partition(LOG_MARK)
    lines = log.strip().splitlines()
    return lines[-1] if lines else ""


def jobs_condition(jobs: Sequence[Mapping[str, Any]], timed_out: str | None
                   ) -> tuple[str, bool, str, str]:
    """(type, ok, reason, message) of the JobsComplete condition; ``timed_out``: the
    readyTimeout passed (as text), or None."""
    ctype = Condition.JOBS_COMPLETE
    waiting = [j for j in jobs if j["state"] != "Complete"]
    if not waiting:
        return ctype, True, Reason.JOBS_COMPLETE, f"All {len(jobs)} jobs complete"
    failed = next((j for j in waiting if j["state"] == "Failed"), None)
    if failed is not None:
        first, _, _ = failed["message"].partition("\n")
        line = last_line(failed["message"])
        return ctype, False, Reason.JOB_FAILED, (
            f"Job {failed['name']} {first}" + (f"; last log line: {line}" if line else ""))
    stuck = next((j for j in waiting if j.get("reason") in STUCK), None)
    if stuck is not None:
        return ctype, False, stuck["reason"], f"Job {stuck['name']}: {stuck['message']}"
    detail = "; ".join(f"{j['name']}: {j['message']}" for j in waiting)
    if timed_out is not None:
        return ctype, False, Reason.READY_TIMEOUT, f"Not complete after {timed_out}: {detail}"
    reasons = {j.get("reason") for j in waiting}
    reason = next((r for r in (Reason.APPLY_FAILED, Reason.DEPENDENCY_NOT_READY)
                   if r in reasons), Reason.JOB_NOT_COMPLETE)
    return ctype, False, reason, f"Waiting for jobs: {detail}"
