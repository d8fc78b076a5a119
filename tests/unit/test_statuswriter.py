"""StatusWriter alone, against the in-memory API: order, memory, failures, backpressure.

Every status write is a PATCH of the DevEnvironment's status subresource; the fake shows
which arrived, in which order, and what the stored status became.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devenv_operator import errors, kube
from devenv_operator.records import EnvRecord, Records
from devenv_operator.statuswriter import StatusWriter
from tests.unit.fakekube import FakeKube, Request

# Long enough for a write that should not happen yet to have happened if it could; what
# follows each such wait is checked without one, so a slow machine cannot fail the test.
SETTLE = 0.2
DEADLINE = 10.0


@dataclass
class Rig:
    api: FakeKube
    writer: StatusWriter
    records: Records
    lost: list[EnvRecord] = field(default_factory=list)

    def env(self, name: str = "web", uid: str = "uid-web",
            status: dict[str, Any] | None = None) -> tuple[EnvRecord, dict[str, Any]]:
        """A DevEnvironment in the API, its body and its record."""
        body = self.api.seed(kube.DEVENV, {"metadata": {"name": name, "uid": uid},
                                           "spec": {}, "status": status or {}})
        return self.records.open(body["metadata"]["uid"], name), body

    def status_of(self, name: str = "web") -> dict[str, Any]:
        stored = self.api.stored(kube.DEVENV, name)
        assert stored is not None
        found: dict[str, Any] = stored.get("status") or {}
        return found

    def writes(self) -> list[Any]:
        """The status patches the API served, in order."""
        return [r.body["status"] for r in self.api.served("patch")
                if r.subresource == "status" and r.error is None]


def make_writer(api: FakeKube, on_lost: Callable[[EnvRecord], None],
                **options: int) -> StatusWriter:
    """The one place a StatusWriter is built (signature changes are adapted here)."""
    return StatusWriter(api.as_kube(), on_lost, **options)


def rig_with(**options: int) -> Rig:
    api = FakeKube()
    lost: list[EnvRecord] = []
    return Rig(api, make_writer(api, lost.append, **options), Records(), lost)


@pytest.fixture
def rig() -> Iterator[Rig]:
    built = rig_with()
    yield built
    built.writer.close()


class Gate:
    """Holds requests of the fake until opened; says when the first one arrived."""

    def __init__(self, api: FakeKube, verb: str = "patch", holds: int = 1) -> None:
        self.arrived = threading.Event()
        self._open = threading.Event()
        self._holds = holds
        self._lock = threading.Lock()
        api.before(verb, self._hold)

    def _hold(self, _: Request) -> None:
        with self._lock:
            if self._holds == 0:
                return
            self._holds -= 1
        self.arrived.set()
        assert self._open.wait(DEADLINE), "the gate was never opened"

    def open(self) -> None:
        self._open.set()


def status(generation: int, phase: str, **more: Any) -> dict[str, Any]:
    return {"observedGeneration": generation, "phase": phase, "message": phase, **more}


# -- order -----------------------------------------------------------------------------


def test_a_write_submitted_after_a_slow_one_reaches_the_api_after_it(rig: Rig) -> None:
    record, _ = rig.env()
    gate = Gate(rig.api)
    first, second = status(1, "Pending"), status(1, "Provisioning")
    rig.writer.submit(record, {}, first)
    assert gate.arrived.wait(DEADLINE)
    rig.writer.submit(record, first, second)
    time.sleep(SETTLE)
    assert rig.writes() == []  # the second waits for the first, held at the API
    gate.open()
    rig.writer.flush(record)
    assert rig.writes() == [first, second]
    assert rig.status_of() == second


def test_a_slow_write_of_one_environment_does_not_hold_up_another(rig: Rig) -> None:
    slow, _ = rig.env("slow", "uid-slow")
    fast, _ = rig.env("fast", "uid-fast")
    gate = Gate(rig.api)
    rig.writer.submit(slow, {}, status(1, "Pending"))
    assert gate.arrived.wait(DEADLINE)
    rig.writer.submit(fast, {}, status(1, "Ready"))
    rig.writer.flush(fast)
    assert rig.status_of("fast")["phase"] == "Ready"
    assert rig.status_of("slow") == {}
    gate.open()
    rig.writer.flush(slow)
    assert rig.status_of("slow")["phase"] == "Pending"


def test_a_write_is_a_merge_patch_that_removes_what_the_new_status_no_longer_has(
        rig: Rig) -> None:
    before = status(1, "Provisioning", readyAt=None, expiresAt="2026-03-01T17:00:00Z")
    record, _ = rig.env(status=before)
    after = status(1, "Ready")
    rig.writer.submit(record, before, after)
    rig.writer.flush(record)
    assert rig.writes()[0]["expiresAt"] is None
    assert rig.status_of() == after


def test_write_now_waits_for_the_queued_writes_and_writes_the_whole_status(rig: Rig) -> None:
    record, _ = rig.env()
    gate = Gate(rig.api)
    queued, final = status(1, "Ready"), status(1, "Terminating")
    rig.writer.submit(record, {}, queued)
    assert gate.arrived.wait(DEADLINE)
    writing = threading.Thread(target=rig.writer.write_now, args=(record, final))
    writing.start()
    time.sleep(SETTLE)
    assert writing.is_alive()  # waiting for the queued write
    assert rig.writes() == []
    gate.open()
    writing.join(DEADLINE)
    assert not writing.is_alive()
    assert rig.writes() == [queued, final]
    assert rig.status_of() == final


# -- what was written ----------------------------------------------------------------------


def test_previous_is_the_body_status_without_kopfs_part_until_something_is_written(
        rig: Rig) -> None:
    record, body = rig.env(status={**status(1, "Pending"), "kopf": {"progress": {}}})
    assert rig.writer.previous(record, body) == status(1, "Pending")


def test_previous_is_the_written_status_until_the_body_carries_a_newer_generation(
        rig: Rig) -> None:
    record, body = rig.env(status=status(1, "Pending"))
    written = status(1, "Ready")
    rig.writer.submit(record, body["status"], written)
    rig.writer.flush(record)
    # The watch has not brought the write back yet: the body is older or as old.
    assert rig.writer.previous(record, body) == written
    assert rig.writer.previous(record, {"status": status(1, "Provisioning")}) == written
    # A body of a newer generation wins over what was written for an older one.
    newer = status(2, "Provisioning")
    assert rig.writer.previous(record, {"status": newer}) == newer


def test_write_now_is_remembered_as_written(rig: Rig) -> None:
    record, body = rig.env(status=status(1, "Ready"))
    final = status(1, "Terminating")
    rig.writer.write_now(record, final)
    assert rig.writer.previous(record, body) == final


def test_a_write_to_an_environment_already_gone_is_not_a_failure(rig: Rig) -> None:
    record = rig.records.open("uid-gone", "gone")  # no such DevEnvironment in the API
    rig.writer.submit(record, {}, status(1, "Pending"))
    rig.writer.flush(record)
    assert rig.api.count("patch") == 1
    assert rig.lost == []
    rig.writer.raise_failed(record)  # nothing to raise


# -- failures ------------------------------------------------------------------------------


def test_a_failed_write_wakes_the_environment_forgets_it_and_is_raised_once(rig: Rig) -> None:
    record, body = rig.env(status=status(1, "Pending"))
    failure = errors.Transient("PATCH .../status: 503", status=503)
    rig.api.fail_next("patch", failure)
    rig.writer.submit(record, body["status"], status(1, "Ready"))
    rig.writer.flush(record)
    assert rig.lost == [record]
    assert rig.status_of() == status(1, "Pending")
    # Forgotten: the next reconcile compares against what the API has.
    assert rig.writer.previous(record, body) == status(1, "Pending")
    with pytest.raises(errors.Transient) as raised:
        rig.writer.raise_failed(record)
    assert raised.value is failure
    rig.writer.raise_failed(record)  # once only


def test_a_later_write_that_goes_through_makes_an_earlier_failure_moot(rig: Rig) -> None:
    record, _ = rig.env()
    rig.api.fail_next("patch", errors.Transient("503", status=503))
    rig.writer.submit(record, {}, status(1, "Pending"))
    rig.writer.submit(record, {}, status(1, "Ready"))
    rig.writer.flush(record)
    assert rig.status_of()["phase"] == "Ready"
    rig.writer.raise_failed(record)  # nothing to raise


def test_a_failed_write_without_retry_neither_wakes_the_environment_nor_is_raised(
        rig: Rig) -> None:
    record, body = rig.env(status=status(1, "Ready"))
    rig.api.fail_next("patch", errors.Forbidden("PATCH .../status: forbidden"))
    rig.writer.submit(record, body["status"], status(1, "Failed"), retry_on_failure=False)
    rig.writer.flush(record)
    assert rig.api.count("patch") == 1
    assert rig.lost == []
    rig.writer.raise_failed(record)
    assert rig.writer.previous(record, body) == status(1, "Ready")  # forgotten all the same


# -- backpressure --------------------------------------------------------------------------


def test_a_full_queue_makes_a_write_wait_for_room() -> None:
    rig = rig_with(workers=1, max_pending=1)
    try:
        record, _ = rig.env()
        gate = Gate(rig.api)
        first, second = status(1, "Pending"), status(1, "Ready")
        rig.writer.submit(record, {}, first)
        assert gate.arrived.wait(DEADLINE)
        waiting = threading.Thread(target=rig.writer.submit, args=(record, first, second))
        waiting.start()
        time.sleep(SETTLE)
        assert waiting.is_alive()  # no room until the first write is done
        gate.open()
        waiting.join(DEADLINE)
        assert not waiting.is_alive()
        rig.writer.flush(record)
        assert rig.writes() == [first, second]
    finally:
        rig.writer.close()


def test_a_full_queue_drops_a_write_without_retry_at_once() -> None:
    rig = rig_with(workers=1, max_pending=1)
    try:
        record, _ = rig.env()
        gate = Gate(rig.api)
        first = status(1, "Pending")
        rig.writer.submit(record, {}, first)
        assert gate.arrived.wait(DEADLINE)
        dropping = threading.Thread(target=rig.writer.submit, args=(
            record, first, status(1, "Failed")), kwargs={"retry_on_failure": False})
        dropping.start()
        dropping.join(DEADLINE)
        assert not dropping.is_alive()  # returned without waiting for room
        gate.open()
        rig.writer.flush(record)
        assert rig.writes() == [first]
    finally:
        rig.writer.close()
