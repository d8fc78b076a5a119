"""Process helpers: identity that survives pid reuse, liveness, death signals.

A process is identified by ``(pid, starttime)`` where starttime is field 22 of
``/proc/<pid>/stat``; a pid whose start time differs is a different process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcId:
    pid: int
    starttime: int

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "starttime": self.starttime}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> ProcId:
        return cls(int(data["pid"]), int(data["starttime"]))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is parenthesised and may contain spaces.
    rest = raw[raw.rfind(")") + 2 :].split()
    return [raw[: raw.find(" ")], "comm", *rest]


def starttime(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[21]) if fields else None


def identify(pid: int) -> ProcId | None:
    st = starttime(pid)
    return ProcId(pid, st) if st is not None else None


def alive(proc: ProcId) -> bool:
    """True if the very process is still running (zombies count as gone)."""
    fields = _stat_fields(proc.pid)
    if fields is None or int(fields[21]) != proc.starttime:
        return False
    return fields[2] not in ("Z", "X")


def set_pdeathsig() -> None:
    """preexec_fn: the child gets SIGKILL when the thread that forked it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def signal_proc(proc: ProcId, sig: int) -> None:
    if alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def wait_gone(procs: Iterable[ProcId], timeout: float) -> list[ProcId]:
    """Wait until all are gone; return those still alive at the deadline."""
    pending = list(procs)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if alive(p)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return pending


def kill_all(procs: Iterable[ProcId], grace: float = 5.0) -> list[ProcId]:
    """SIGTERM, wait ``grace`` seconds, then SIGKILL; return survivors (should be none)."""
    todo = [p for p in procs if alive(p)]
    for p in todo:
        signal_proc(p, signal.SIGTERM)
    left = wait_gone(todo, grace)
    for p in left:
        signal_proc(p, signal.SIGKILL)
    return wait_gone(left, 5.0)
