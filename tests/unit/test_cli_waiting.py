"""How `wait` follows one environment: a watch resumed from the last resourceVersion seen
(bookmarks included), a fresh list only when that version is too old (410), a retry after
a broken connection, and the outcome when it settles, is deleted or the deadline passes.

The API is a scripted stand-in for ``cli.api.Api`` (the logic under test is the loop, not
the API server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devenv_cli import waiting
from devenv_cli.exits import Outcome
from devenv_operator import errors, kinds


def obj(phase: str, rv: str, generation: int = 1, **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if phase == "Ready" else "False",
                   "reason": "Ready" if phase == "Ready" else "ServiceNotReady"}]
    return {"metadata": {"name": "x", "resourceVersion": rv, "generation": generation},
            "status": {"phase": phase, "observedGeneration": 1, "conditions": conditions,
                       **status}}


Script = list[dict[str, Any] | Exception]


class ScriptedApi:
    """``list`` answers from ``lists``; each ``watch_one`` call plays the next script."""

    def __init__(self, lists: list[tuple[dict[str, Any] | None, str]],
                 watches: list[Script], clock: Clock) -> None:
        self.lists = lists
        self.watches = watches
        self.clock = clock
        self.watched_from: list[str] = []
        self.list_calls = 0

    def list(self, kind: kinds.Kind, namespace: str | None = None, *,
             field_selector: str | None = None, label_selector: str | None = None
             ) -> tuple[list[dict[str, Any]], str]:
        assert kind is kinds.DEVENV
        assert field_selector == "metadata.name=x"
        found, version = self.lists[min(self.list_calls, len(self.lists) - 1)]
        self.list_calls += 1
        return ([found] if found else []), version

    def watch_one(self, kind: kinds.Kind, name: str, resource_version: str, *,
                  timeout_seconds: int, stopped: Callable[[], bool] = lambda: False
                  ) -> Iterator[dict[str, Any]]:
        assert timeout_seconds >= 1
        self.watched_from.append(resource_version)
        script = self.watches.pop(0) if self.watches else []
        if not script:  # the server ends an idle watch at its timeout
            self.clock.now += timeout_seconds
        for step in script:
            if isinstance(step, Exception):
                raise step
            self.clock.now += 1
            yield step


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiting.time, "sleep", lambda _: None)


def wait(api: ScriptedApi, timeout: float = 60) -> waiting.WaitResult:
    return waiting.wait_for(api, "x", timeout, clock=api.clock)  # type: ignore[arg-type]


def test_ready_already_settles_without_watching() -> None:
    api = ScriptedApi([(obj("Ready", "5"), "10")], [], Clock())
    result = wait(api)
    assert result.outcome is Outcome.READY
    assert api.watched_from == []


def test_the_watch_resumes_from_the_last_version_seen_including_bookmarks() -> None:
    clock = Clock()
    api = ScriptedApi([(obj("Provisioning", "5"), "10")], [
        [{"type": "MODIFIED", "object": obj("Provisioning", "11")},
         {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}],
        [errors.Transient("connection reset")],
        [{"type": "MODIFIED", "object": obj("Ready", "20")}]], clock)
    result = wait(api)
    assert result.outcome is Outcome.READY
    assert result.obj is not None
    assert result.obj["metadata"]["resourceVersion"] == "20"
    assert api.watched_from == ["10", "15", "15"]
    assert api.list_calls == 1  # no relist for an ordinary reconnect


def test_a_version_too_old_lists_again() -> None:
    api = ScriptedApi([(obj("Provisioning", "5"), "10"), (obj("Provisioning", "30"), "31")], [
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}],
        [{"type": "MODIFIED", "object": obj("Ready", "40")}]], Clock())
    assert wait(api).outcome is Outcome.READY
    assert api.watched_from == ["10", "31"]
    assert api.list_calls == 2


def test_a_410_answer_to_the_watch_request_lists_again_too() -> None:
    api = ScriptedApi([(obj("Provisioning", "5"), "10"), (obj("Ready", "30"), "31")], [
        [errors.Transient("expired", status=410)]], Clock())
    assert wait(api).outcome is Outcome.READY
    assert api.list_calls == 2


def test_failed_settles_at_once_and_deleted_is_gone() -> None:
    failed = obj("Failed", "12", conditions=[
        {"type": "Stalled", "status": "True", "reason": "CrashLooping"}])
    api = ScriptedApi([(obj("Provisioning", "5"), "10")],
                      [[{"type": "MODIFIED", "object": failed},
                        {"type": "MODIFIED", "object": obj("Ready", "13")}]], Clock())
    assert wait(api).outcome is Outcome.FAILED
    api = ScriptedApi([(obj("Provisioning", "5"), "10")],
                      [[{"type": "DELETED", "object": obj("Provisioning", "12")}]], Clock())
    result = wait(api)
    assert (result.outcome, result.obj) == (Outcome.GONE, None)


def test_ready_for_an_older_generation_does_not_count() -> None:
    api = ScriptedApi([(obj("Ready", "5", generation=2), "10")], [
        [{"type": "MODIFIED",
          "object": {**obj("Ready", "11", generation=2),
                     "status": {**obj("Ready", "11")["status"], "observedGeneration": 2}}}]],
        Clock())
    result = wait(api)
    assert result.outcome is Outcome.READY
    assert api.watched_from == ["10"]


def test_the_deadline_ends_an_idle_wait_with_the_last_state() -> None:
    api = ScriptedApi([(obj("Provisioning", "5"), "10")], [], Clock())
    result = wait(api, timeout=30)
    assert result.outcome is Outcome.TIMEOUT
    assert result.obj is not None
    assert result.obj["status"]["phase"] == "Provisioning"
    assert result.elapsed == 30


def test_other_api_errors_are_not_retried() -> None:
    api = ScriptedApi([(obj("Provisioning", "5"), "10")],
                      [[errors.Forbidden("no watch for you")]], Clock())
    with pytest.raises(errors.Forbidden):
        wait(api)


def test_ready_counts_once_it_has_held_for_the_stable_window() -> None:
    clock = Clock()
    api = ScriptedApi([(obj("Ready", "5"), "10")], [], clock)
    result = waiting.wait_for(api, "x", 60, stable_for=5, clock=clock)  # type: ignore[arg-type]
    assert result.outcome is Outcome.READY
    assert clock.now >= 5  # it watched through the window
    assert api.watched_from == ["10"]


def test_a_ready_that_does_not_hold_is_waited_through_to_the_failure() -> None:
    # A container that crashes right after it starts: Ready for a moment, then not, then
    # CrashLooping. Without the window the wait would have passed it.
    clock = Clock()
    api = ScriptedApi(
        [(obj("Ready", "5"), "10"), (obj("Ready", "5"), "10"),
         (obj("Provisioning", "11"), "11")],
        [[{"type": "MODIFIED", "object": obj("Provisioning", "11")}],
         [{"type": "MODIFIED", "object": obj("Failed", "12")}]], clock)
    result = waiting.wait_for(api, "x", 60, stable_for=5, clock=clock)  # type: ignore[arg-type]
    assert result.outcome is Outcome.FAILED
    assert result.obj is not None
    assert result.obj["metadata"]["resourceVersion"] == "12"


def test_the_stable_window_never_outlasts_the_deadline() -> None:
    clock = Clock()
    clock.now = 0
    api = ScriptedApi([(obj("Ready", "5"), "10")], [], clock)
    result = waiting.wait_for(api, "x", 3, stable_for=30, clock=clock)  # type: ignore[arg-type]
    assert result.outcome is Outcome.READY
    assert clock.now <= 3 + 1
