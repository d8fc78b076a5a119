"""PURE facts about one service's pods: restarts, the last termination, and whether the
service is stuck in a way that waiting will not fix (an image that keeps failing to pull,
a container the kubelet keeps refusing to create, a container crash-looping) so that the
environment fails early instead of at readyTimeout.

Only counts, reasons, exit codes and the kubelet's own waiting messages are read: never a
container's environment, its termination message or its logs, which may quote data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devenv_operator.reasons import Reason

# Waiting reasons of an image that cannot be pulled (yet).
PULL_FAILING = frozenset({"ErrImagePull", "ImagePullBackOff"})
# Waiting reasons that no retry will fix: the spec must change.
HOPELESS = frozenset({"InvalidImageName"})
# Waiting reasons of a container the kubelet cannot create from its spec (an image whose
# user is root under runAsNonRoot, a user name runAsNonRoot cannot verify). Given the same
# grace as a failing pull: a ConfigMap seeded in the same run may still be on its way.
CREATE_FAILING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# A container that restarted often counts as crash-looping until it has stayed up this long
# (without it, a crash loop between two crashes would look like a recovery).
CRASH_SETTLE = timedelta(seconds=30)


@dataclass(frozen=True)
class FailFast:
    """When a stuck service fails the environment (operator settings, a class overrides)."""

    image_pull_after: timedelta = timedelta(minutes=2)
    crash_loop_restarts: int = 3


@dataclass(frozen=True)
class PodFacts:
    """What one service's current pods show."""

    restarts: int = 0
    last_termination_reason: str | None = None
    last_exit_code: int | None = None
    stuck_reason: str | None = None  # ImagePullFailed, ContainerCreateFailed, CrashLooping
    stuck_message: str = ""


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            if isinstance(cs, Mapping):
                yield cs


def _terminations(cs: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("state", "lastState"):
        terminated = (cs.get(key) or {}).get("terminated")
        if isinstance(terminated, Mapping):
            yield terminated


def _crash_looping(cs: Mapping[str, Any], now: datetime, restarts: int) -> bool:
    if int(cs.get("restartCount") or 0) < restarts:
        return False
    state = cs.get("state") or {}
    running = state.get("running")
    if isinstance(running, Mapping):
        started = _parse(running.get("startedAt"))
        settled = started is not None and now - started >= CRASH_SETTLE
        return not (cs.get("ready") and settled)
    return True  # waiting (CrashLoopBackOff) or terminated


def _waiting_for(pod: Mapping[str, Any], cs: Mapping[str, Any], now: datetime,
                 reasons: frozenset[str]) -> timedelta | None:
    """How long this container has been waiting for one of ``reasons`` (None: it is not)."""
    waiting = (cs.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") not in reasons:
        return None
    # Since it last ran, or else since its pod was created.
    last = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
    since = _parse(last) or _parse((pod.get("metadata") or {}).get("creationTimestamp"))
    return max(now - since, timedelta(0)) if since else timedelta(0)


def _stuck(pod: Mapping[str, Any], cs: Mapping[str, Any], now: datetime,
           rules: FailFast) -> tuple[str, str] | None:
    """(reason, message) when this container is stuck for good, else None."""
    name = str(cs.get("name", ""))
    waiting = (cs.get("state") or {}).get("waiting") or {}
    pulling = _waiting_for(pod, cs, now, PULL_FAILING)
    if waiting.get("reason") in HOPELESS or (
            pulling is not None and pulling >= rules.image_pull_after):
        return Reason.IMAGE_PULL_FAILED, (f"image {cs.get('image', '')} of container {name} "
                                          f"cannot be pulled ({waiting.get('reason')})")
    creating = _waiting_for(pod, cs, now, CREATE_FAILING)
    if creating is not None and creating >= rules.image_pull_after:
        detail = str(waiting.get("message") or "")[:300]
        return Reason.CONTAINER_CREATE_FAILED, (
            f"container {name} cannot be created ({waiting.get('reason')})"
            + (f": {detail}" if detail else ""))
    if _crash_looping(cs, now, rules.crash_loop_restarts):
        exit_code = next((t.get("exitCode") for t in _terminations(cs)), None)
        return Reason.CRASH_LOOPING, (
            f"container {name} restarted {int(cs.get('restartCount') or 0)} times"
            + (f", last exit code {exit_code}" if exit_code is not None else ""))
    return None


def facts(pods: Sequence[Mapping[str, Any]], now: datetime, rules: FailFast) -> PodFacts:
    """Restarts, the most recent termination, and whether the service is stuck."""
    restarts = 0
    latest: tuple[datetime, Mapping[str, Any]] | None = None
    stuck: tuple[str, str] | None = None
    for pod in pods:
        for cs in _containers(pod):
            restarts += int(cs.get("restartCount") or 0)
            for terminated in _terminations(cs):
                when = _parse(terminated.get("finishedAt")) or datetime.min.replace(
                    tzinfo=now.tzinfo)
                if latest is None or when > latest[0]:
                    latest = (when, terminated)
            if stuck is None:
                stuck = _stuck(pod, cs, now, rules)
    last = latest[1] if latest else {}
    exit_code = last.get("exitCode")
    return PodFacts(
        restarts=restarts,
        last_termination_reason=str(last["reason"]) if last.get("reason") else None,
        last_exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        stuck_reason=stuck[0] if stuck else None,
        stuck_message=stuck[1] if stuck else "")
