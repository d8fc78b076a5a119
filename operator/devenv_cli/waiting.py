"""Waiting for an environment: a watch on the one object, and progress as it goes.

``wait_for`` lists the DevEnvironment by name, then watches it from the list's
resourceVersion (bookmarks keep that fresh); when the server ends the stream or it breaks,
it watches again from the last version seen, and lists again only when that version is too
old (410 Gone). No polling. It returns as soon as ``state.verdict`` settles: Failed (at
once: phase Failed or Stalled=True), deleted; Ready (for the current generation) once it
has held for ``stable_for`` seconds; or at the deadline.

Why a Ready must hold: a container with no readiness probe is ready the moment it runs, so
one that crashes right after starting makes its Deployment, and the environment, Ready for
a second or two before the crash shows (seen on a real node). A CI wait that stopped there
would pass a broken environment.

Progress goes to a stream: on a terminal one block of lines, rewritten in place (the
environment, then one line per service and per job); otherwise a line only when something
changed, which is what a CI log wants.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from devenv_cli import state
from devenv_cli.api import Api
from devenv_cli.exits import Outcome
from devenv_operator import errors, kinds
from devenv_operator.reasons import Phase

WATCH_SECONDS = 300  # one watch request at most; then it is renewed
RETRY_SECONDS = 2.0  # after a broken connection


@dataclass(frozen=True)
class WaitResult:
    outcome: Outcome
    obj: dict[str, Any] | None  # the last version seen (None: never found)
    elapsed: float  # seconds


class Progress:
    """Shows the environment's state as it changes."""

    def __init__(self, stream: TextIO, name: str, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._name = name
        self._live = stream.isatty() if live is None else live
        self._clock = clock
        self._start = clock()
        self._drawn = 0  # lines of the live block on screen
        self._seen: dict[str, tuple[Any, ...]] = {}

    def note(self, text: str) -> None:
        """A line of its own (not part of the live block)."""
        if self._live and self._drawn:
            self._drawn = 0  # keep the block on screen; draw the next one below
        self._stream.write(f"{self._stamp()} {text}\n")
        self._stream.flush()

    def _stamp(self) -> str:
        return f"[{int(self._clock() - self._start):>4}s]"

    def update(self, obj: Mapping[str, Any] | None) -> None:
        lines = self.lines(obj)
        if self._live:
            self._redraw(lines)
            return
        for key, state_key, line in lines:
            if self._seen.get(key) != state_key:
                self._seen[key] = state_key
                self._stream.write(f"{self._stamp()} {line}\n")
        self._stream.flush()

    def lines(self, obj: Mapping[str, Any] | None) -> list[tuple[str, tuple[Any, ...], str]]:
        """(what, its state, the line) for the environment, each service and each job."""
        if obj is None:
            return [("env", ("gone",), f"devenv {self._name}: deleted")]
        status = state.status_of(obj)
        phase = status.get("phase") or Phase.PENDING
        ready = status.get("readyServices")
        message = state.message(obj)
        head = f"devenv {self._name}: {phase}" + (f" ({ready} services ready)" if ready else "")
        if message and phase != Phase.READY:
            head += f": {message}"
        out: list[tuple[str, tuple[Any, ...], str]] = [("env", (phase, ready, message), head)]
        for svc in state.services(obj):
            mark = "ready" if svc.ready else (svc.reason or "not ready")
            text = f"  service {svc.name}: {svc.counts} {mark}"
            if svc.restarts:
                text += f", {svc.restarts} restarts"
            if svc.last_termination():
                text += f", last termination {svc.last_termination()}"
            if not svc.ready and svc.message:
                text += f": {svc.message.removeprefix(f'{svc.reason}: ')}"
            out.append((f"svc/{svc.name}", (svc.ready, svc.counts, svc.reason, svc.message,
                                            svc.restarts, svc.last_termination()), text))
        for job in state.jobs(obj):
            text = f"  job {job.name}: {job.state}"
            if job.state != "Complete" and job.summary:
                text += f": {job.summary.removeprefix(f'{job.reason}: ')}"
            out.append((f"job/{job.name}", (job.state, job.attempts, job.message), text))
        return out

    def _redraw(self, lines: list[tuple[str, tuple[Any, ...], str]]) -> None:
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = [f"{self._stamp()} {lines[0][2]}", *(line for _, _, line in lines[1:])]
        if self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the block, clear below
        for line in text:
            self._stream.write(line[:width] + "\n")  # never wrap: the count must stay right
        self._drawn = len(text)
        self._stream.flush()


def wait_for(api: Api, name: str, timeout: float, progress: Progress | None = None, *,
             stable_for: float = 0.0, clock: Callable[[], float] = time.monotonic
             ) -> WaitResult:
    """Watch ``name`` until ``state.verdict`` settles or ``timeout`` seconds pass; Ready
    counts once it has held for ``stable_for`` seconds (or until the deadline)."""
    start = clock()
    deadline = start + timeout
    show = progress.update if progress is not None else None
    while True:
        obj, timed_out = watch_until(api, name, lambda o: state.verdict(o) is not None,
                                     deadline - clock(), show, clock=clock)
        if timed_out:
            return WaitResult(Outcome.TIMEOUT, obj, clock() - start)
        settled = state.verdict(obj)  # Outcome.READY is 0: compare with None, not truth
        if settled is not Outcome.READY or stable_for <= 0:
            return WaitResult(Outcome.GONE if settled is None else settled, obj,
                              clock() - start)
        window = max(0.0, min(stable_for, deadline - clock()))
        if progress is not None:
            progress.note(f"Ready; checking that it stays Ready for {window:.0f}s")
        after, held = watch_until(api, name, lambda o: state.verdict(o) is not Outcome.READY,
                                  window, show, clock=clock)
        if held:  # Ready all through the window
            return WaitResult(Outcome.READY, after, clock() - start)
        if after is None or state.verdict(after) is not None:  # deleted, or Failed
            left = state.verdict(after)
            return WaitResult(Outcome.GONE if left is None else left, after, clock() - start)
        # It left Ready without failing (a container crashed, say): wait on.


def watch_until(api: Api, name: str, settled: Callable[[dict[str, Any]], bool],
                timeout: float, on_change: Callable[[dict[str, Any] | None], None] | None = None,
                *, clock: Callable[[], float] = time.monotonic
                ) -> tuple[dict[str, Any] | None, bool]:
    """Watch ``name`` until ``settled(obj)`` or it is gone: (the last version seen, or None
    when it is gone; whether the ``timeout`` passed first)."""
    watch = _Watch(api, name, on_change or (lambda _: None), clock() + timeout, clock)
    if not watch.start():
        return None, False
    while not settled(watch.obj):
        remaining = watch.deadline - clock()
        if remaining <= 0:
            return watch.obj, True
        watch.request(settled, remaining)
        if not watch.gone and not watch.version:  # too old (410): list again
            watch.relist()
        if watch.gone:
            return None, False
    return watch.obj, False


class _Watch:
    """The watch of one DevEnvironment by name until a deadline: the last version of it
    seen, the resourceVersion to resume from ("" once too old: list again), and whether it
    is gone. ``show`` sees every version, and None when it is deleted."""

    def __init__(self, api: Api, name: str, show: Callable[[dict[str, Any] | None], None],
                 deadline: float, clock: Callable[[], float]) -> None:
        self._api = api
        self._name = name
        self._show = show
        self._clock = clock
        self.deadline = deadline
        self.obj: dict[str, Any] = {}
        self.version = ""
        self.gone = False

    def start(self) -> bool:
        """The first list; False when there is nothing to watch (not shown as a deletion)."""
        obj, self.version = _list(self._api, self._name)
        if obj is None:
            return False
        self.obj = obj
        self._show(obj)
        return True

    def request(self, settled: Callable[[dict[str, Any]], bool], remaining: float) -> None:
        """One watch request, followed until ``settled``, deletion, the end of the stream or
        the deadline; after a broken connection it pauses, and the caller asks again."""
        try:
            for event in self._api.watch_one(
                    kinds.DEVENV, self._name, self.version,
                    timeout_seconds=math.ceil(min(remaining, WATCH_SECONDS)),
                    stopped=lambda: self._clock() >= self.deadline):
                if not self._take(event) or self.gone or settled(self.obj):
                    return
        except errors.KubeError as exc:
            if exc.status == 410:
                self.version = ""
            elif isinstance(exc, errors.Transient):
                time.sleep(max(0.0, min(RETRY_SECONDS, self.deadline - self._clock())))
            else:
                raise

    def _take(self, event: Mapping[str, Any]) -> bool:
        """Follow one event; False when it ends the stream (an ERROR)."""
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                self.version = ""
            return False
        self.version = str((body.get("metadata") or {}).get("resourceVersion") or self.version)
        if kind == "DELETED":
            self._vanish()
        elif kind != "BOOKMARK":
            self.obj = body
            self._show(body)
        return True

    def relist(self) -> None:
        obj, self.version = _list(self._api, self._name)
        if obj is None:
            self._vanish()
        else:
            self.obj = obj
            self._show(obj)

    def _vanish(self) -> None:
        self.gone = True
        self._show(None)


def _list(api: Api, name: str) -> tuple[dict[str, Any] | None, str]:
    items, version = api.list(kinds.DEVENV, field_selector=f"metadata.name={name}")
    return (items[0] if items else None), version
