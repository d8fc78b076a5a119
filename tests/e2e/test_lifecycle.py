"""TTL expiry, extension, lifetime caps and the expiry warning, driven through kubectl.

TTLs are seconds long so that the whole file runs in about a minute and a half. The test
operator warns 5s before expiry (``DEVENV_EXPIRY_WARNING=5s`` in conftest). Lateness is
measured by polling: the first moment an environment is seen with a ``deletionTimestamp``
(or already gone), minus its ``status.expiresAt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.helpers import (
    Kubectl,
    Operator,
    apply,
    condition,
    devenv,
    events_for,
    get,
    manifest,
    unique,
    wait_for,
)

pytestmark = pytest.mark.e2e

LATENESS_BOUND = 5.0  # seconds from status.expiresAt to the deletion request being visible
# Cheap environments: a Deployment scaled to zero is Available at once.
IDLE = [{"name": "web", "image": "nginx:1.27", "replicas": 0}]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(kubectl: Kubectl, names: list[str], prefix: str, *,
           annotations: dict[str, str] | None = None, **spec: Any) -> str:
    name = unique(prefix)
    obj = manifest(name, services=IDLE, **spec)
    if annotations:
        obj["metadata"]["annotations"] = annotations
    apply(kubectl, obj)
    names.append(name)
    return name


def status_of(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return dict((devenv(kubectl, name) or {}).get("status") or {})


def wait_expires_at(kubectl: Kubectl, name: str, expected: datetime | None = None,
                    timeout: float = 20) -> datetime:
    """status.expiresAt once the operator wrote it (and it equals ``expected``, if given)."""
    def check() -> datetime | None:
        text = status_of(kubectl, name).get("expiresAt")
        if not text or (expected is not None and parse_time(text) != expected):
            return None
        return parse_time(text)
    return wait_for(check, timeout, what=f"{name} status.expiresAt == {expected}")


def creation(kubectl: Kubectl, name: str) -> datetime:
    env = devenv(kubectl, name)
    assert env is not None
    return parse_time(env["metadata"]["creationTimestamp"])


def watch_deletions(kubectl: Kubectl, names: Sequence[str], timeout: float
                    ) -> dict[str, float]:
    """Wall-clock time (epoch seconds) at which each environment was first seen deleting."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(names) and time.monotonic() < deadline:
        listed = get(kubectl, "devenvironments") or {"items": []}
        now = time.time()
        alive = {o["metadata"]["name"]: o for o in listed["items"]}
        for name in names:
            if name in seen:
                continue
            obj = alive.get(name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                seen[name] = now
        time.sleep(0.2)
    missing = [n for n in names if n not in seen]
    assert not missing, f"not deleted within {timeout}s: {missing}"
    return seen


def assert_on_time(seen_at: float, expires_at: datetime, name: str,
                   operator: Operator, note: str = "") -> float:
    lateness = seen_at - expires_at.timestamp()
    said = "\n".join(line for line in operator.logs().splitlines() if name in line)
    what = f"{name} {note}".strip()
    assert lateness >= -0.5, f"{what} was deleted {-lateness:.1f}s BEFORE its expiry:\n{said}"
    assert lateness < LATENESS_BOUND, (
        f"{what} was deleted {lateness:.1f}s after its expiry; the operator said:\n{said}")
    return lateness


def wait_gone(kubectl: Kubectl, *what: str, timeout: float = 30) -> None:
    wait_for(lambda: get(kubectl, *what) is None, timeout, what=f"{' '.join(what)} to be gone")


def event(kubectl: Kubectl, name: str, reason: str) -> dict[str, Any] | None:
    for ev in events_for(kubectl, name):
        if ev.get("reason") == reason:
            return ev
    return None


def event_time(ev: dict[str, Any]) -> datetime:
    text = ev.get("eventTime") or ev.get("lastTimestamp") or ev.get("firstTimestamp")
    assert text, ev
    return parse_time(text)


# -- expiry ------------------------------------------------------------------------------


def test_expired_environment_is_deleted_with_its_namespace(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    name = create(kubectl, names, "exp", ttl="4s")
    created = creation(kubectl, name)
    expires_at = wait_expires_at(kubectl, name, created + timedelta(seconds=4))
    namespace = wait_for(lambda: status_of(kubectl, name).get("namespace"), 20,
                         what="status.namespace")
    assert get(kubectl, "namespace", namespace) is not None
    table = kubectl("get", "devenvironment", name).stdout
    assert "EXPIRES" in table.splitlines()[0]

    seen = watch_deletions(kubectl, [name], timeout=20)
    assert_on_time(seen[name], expires_at, name, running_operator)
    wait_gone(kubectl, "devenvironment", name)
    wait_gone(kubectl, "namespace", namespace)
    expired = wait_for(lambda: event(kubectl, name, "Expired"), 10, what="Expired event")
    assert expired["type"] == "Normal"
    assert rfc3339(expires_at) in expired["message"]


def test_warning_event_and_condition_appear_before_deletion(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    name = create(kubectl, names, "warn", ttl="8s")
    expires_at = wait_expires_at(kubectl, name)
    assert condition(devenv(kubectl, name), "ExpiringSoon")["status"] == "False"

    def warned() -> dict[str, Any] | None:
        env = devenv(kubectl, name)
        assert env is not None, "deleted before the ExpiringSoon condition was seen"
        assert not env["metadata"].get("deletionTimestamp"), "deleting before the warning"
        cond = condition(env, "ExpiringSoon")
        return cond if cond.get("status") == "True" else None

    cond = wait_for(warned, 15, interval=0.2, what="ExpiringSoon=True")
    warned_at = time.time()
    # The warning comes ~5s before expiry: not much earlier and not at the last moment.
    assert 2.0 <= expires_at.timestamp() - warned_at <= 6.5, expires_at.timestamp() - warned_at
    assert cond["reason"] == "ExpiringSoon"
    assert rfc3339(expires_at) in cond["message"]

    warning = wait_for(lambda: event(kubectl, name, "ExpiringSoon"), 10, what="warning Event")
    assert warning["type"] == "Warning"
    watch_deletions(kubectl, [name], timeout=15)
    expired = wait_for(lambda: event(kubectl, name, "Expired"), 10, what="Expired event")
    assert event_time(warning) < event_time(expired)


# -- extension and shortening ----------------------------------------------------------


def test_extending_before_expiry_keeps_the_environment(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    by_date = create(kubectl, names, "ext-at", ttl="8s")
    by_ttl = create(kubectl, names, "ext-ttl", ttl="8s")
    old = {n: wait_expires_at(kubectl, n) for n in (by_date, by_ttl)}
    new = {
        by_date: creation(kubectl, by_date) + timedelta(seconds=20),
        by_ttl: creation(kubectl, by_ttl) + timedelta(seconds=20),
    }
    kubectl("patch", "devenvironment", by_date, "--type=merge", "-p",
            json.dumps({"spec": {"expiresAt": rfc3339(new[by_date])}}))
    kubectl("patch", "devenvironment", by_ttl, "--type=merge", "-p",
            json.dumps({"spec": {"ttl": "20s"}}))
    for name in (by_date, by_ttl):
        wait_expires_at(kubectl, name, new[name], timeout=10)

    # Past the original expiry (plus the lateness bound, still before the new warning
    # window) both are still there, and no longer warned about.
    time.sleep(max(max(old.values()).timestamp() + LATENESS_BOUND - time.time(), 0))
    for name in (by_date, by_ttl):
        env = devenv(kubectl, name)
        assert env is not None, name
        assert not env["metadata"].get("deletionTimestamp"), name
        assert condition(env, "ExpiringSoon")["status"] == "False", condition(env, "ExpiringSoon")

    seen = watch_deletions(kubectl, [by_date, by_ttl], timeout=20)
    for name in (by_date, by_ttl):
        assert_on_time(seen[name], new[name], name, running_operator)


def test_shortening_into_the_past_expires_at_once(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    name = create(kubectl, names, "short", ttl="1h")
    wait_expires_at(kubectl, name)
    past = datetime.now(UTC) - timedelta(minutes=1)
    patched_at = time.time()
    kubectl("patch", "devenvironment", name, "--type=merge", "-p",
            json.dumps({"spec": {"expiresAt": rfc3339(past)}}))
    seen = watch_deletions(kubectl, [name], timeout=15)
    assert seen[name] - patched_at < LATENESS_BOUND
    wait_for(lambda: event(kubectl, name, "Expired"), 10, what="Expired event")


# -- restarts ------------------------------------------------------------------------------


def test_expiry_survives_an_operator_restart(
        running_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    # A graceful stop takes the operator 5-7s, a start ~3s: `later` expires after both.
    created_at = time.time()
    later = create(kubectl, names, "rs-late", ttl="18s")
    during = create(kubectl, names, "rs-down", ttl="4s")
    expiry = {n: wait_expires_at(kubectl, n) for n in (later, during)}
    stopping_at = time.time()
    running_operator.stop()
    try:
        # `during` expires while nobody is watching ...
        time.sleep(max(expiry[during].timestamp() + 1 - time.time(), 0))
        assert devenv(kubectl, during) is not None
    finally:
        running_operator.start()
    started_at = time.time()
    # ... and is deleted as soon as the operator is back; `later` is deleted on time.
    seen = watch_deletions(kubectl, [during, later], timeout=25)
    assert seen[during] - started_at < LATENESS_BOUND
    # On a loaded machine the restart itself may outlast `later`'s TTL; then it must go as
    # soon as the operator is back, like `during`.
    restart = (f"(stop requested {stopping_at - created_at:.1f}s after creation, "
               f"ready again after {started_at - created_at:.1f}s)")
    due = expiry[later] if expiry[later].timestamp() > started_at else datetime.fromtimestamp(
        started_at, UTC)
    assert_on_time(seen[later], due, later, running_operator, restart)


# -- operator policy: maximum lifetime, default TTL, keep annotation ----------------------
# Last in the file: the module-scoped operator below keeps these settings until the end.

MAX_TTL, DEFAULT_TTL = 12, 6


@pytest.fixture(scope="module")
def policy_operator(operator: Operator) -> Iterator[Operator]:
    """One operator run with both a maximum lifetime and a default TTL, for the tests below."""
    with operator.settings_applied(DEVENV_MAX_TTL=f"{MAX_TTL}s",
                           DEVENV_DEFAULT_TTL=f"{DEFAULT_TTL}s"):
        yield operator


def test_longer_requests_are_clamped_to_the_maximum_lifetime(
        policy_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    long = create(kubectl, names, "clamp", ttl="1h")
    short = create(kubectl, names, "clamp-ok", ttl="7s")
    cap = creation(kubectl, long) + timedelta(seconds=MAX_TTL)
    wait_expires_at(kubectl, long, cap)
    wait_expires_at(kubectl, short, creation(kubectl, short) + timedelta(seconds=7))

    cond = condition(devenv(kubectl, long), "ExpiringSoon")
    assert (cond["status"], cond["reason"]) == ("False", "TTLClamped"), cond
    assert f"{MAX_TTL}s" in cond["message"]
    assert rfc3339(cap) in cond["message"]
    clamped = wait_for(lambda: event(kubectl, long, "TTLClamped"), 10, what="TTLClamped event")
    assert clamped["type"] == "Warning"
    assert event(kubectl, short, "TTLClamped") is None

    seen = watch_deletions(kubectl, [long, short], timeout=25)
    assert_on_time(seen[long], cap, long, policy_operator)


def test_keep_annotation_exempts_from_the_default_ttl_only(
        policy_operator: Operator, kubectl: Kubectl, names: list[str]) -> None:
    keep = {"shipit.dev/keep": "true"}
    defaulted = create(kubectl, names, "dflt")
    kept = create(kubectl, names, "kept", annotations=keep)
    kept_ttl = create(kubectl, names, "kept-ttl", annotations=keep, ttl=f"{DEFAULT_TTL}s")
    expiry = {n: wait_expires_at(
        kubectl, n, creation(kubectl, n) + timedelta(seconds=DEFAULT_TTL))
        for n in (defaulted, kept_ttl)}
    # Kept: no default TTL, but still the platform's maximum lifetime (nothing was clamped).
    wait_expires_at(kubectl, kept, creation(kubectl, kept) + timedelta(seconds=MAX_TTL))

    seen = watch_deletions(kubectl, [defaulted, kept_ttl], timeout=20)
    for name in (defaulted, kept_ttl):
        assert_on_time(seen[name], expiry[name], name, policy_operator)
    env = devenv(kubectl, kept)
    assert env is not None
    assert not env["metadata"].get("deletionTimestamp")
    assert condition(env, "ExpiringSoon")["reason"] != "TTLClamped"
