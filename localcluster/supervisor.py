"""The detached supervisor that owns the component processes of one cluster.

Started by ``up`` as ``python -m localcluster.supervisor STATE_DIR``; it forks once more
so it is nobody's child, then reads ``plan.json`` and starts the components in order
(waiting for etcd and the apiserver to be healthy). Components are started from this
process's main thread with PR_SET_PDEATHSIG=SIGKILL, so they die with the supervisor
even if it is SIGKILLed. It stops everything (reverse order, SIGTERM then SIGKILL) on
SIGTERM/SIGINT or when the optional owner process disappears, and records progress in
``status.json`` and the component pids in ``pids.json``. On SIGUSR1 it restarts the
components named in ``restart.json`` (chaos tests: an apiserver or etcd that goes away
and comes back), in plan order, waiting for each to be healthy again; when the file is
``{"stop": [names]}`` it only stops them (the real node's tests: an enforcer taken away),
and a later restart of the same names starts them again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from . import procs
from .api import http_ok
from .components import Layout
from .pki import Pki

STOP_GRACE_S = 5.0
POLL_S = 0.25
OWNER_POLL_S = 1.0


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} supervisor[{os.getpid()}]: {msg}", flush=True)


class Supervisor:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.plan: dict[str, Any] = json.loads(layout.plan.read_text())
        owner = self.plan.get("owner")
        self.owner = procs.ProcId.from_json(owner) if owner else None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[TextIO] = []
        self.stopping = False
        self.stop_reason = ""
        self.exited: set[str] = set()
        self.restart_requested = False

    # -- bookkeeping ---------------------------------------------------------------
    def status(self, state: str, message: str = "") -> None:
        write_json(
            self.layout.status,
            {"state": state, "message": message, "supervisor": os.getpid(), "time": time.time()},
        )

    def record_pids(self) -> None:
        entries = []
        for name, proc in self.children:
            ident = procs.identify(proc.pid)
            if ident is not None:
                entries.append({"name": name, **ident.to_json()})
        write_json(self.layout.pids, entries)

    def request_stop(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            _log(f"stop requested: {reason}")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request_stop(f"signal {signal.Signals(signum).name}")

    def _on_restart(self, _signum: int, _frame: FrameType | None) -> None:
        self.restart_requested = True

    def restart(self) -> None:
        """Stop the components named in restart.json, then start them again in plan order."""
        self.restart_requested = False
        try:
            request = json.loads(self.layout.restart.read_text())
        except (OSError, ValueError):
            return
        stop_only = isinstance(request, dict)
        names = set(request.get("stop", []) if stop_only else request)
        plan = [c for c in self.plan["components"] if c["name"] in names]
        for comp in reversed(plan):
            for name, proc in [(n, p) for n, p in self.children if n == comp["name"]]:
                self._stop(name, proc)
                self.children.remove((name, proc))
        if stop_only:
            self.record_pids()
            _log(f"stopped on request: {', '.join(c['name'] for c in plan)}")
            return
        for comp in plan:
            self.exited.discard(comp["name"])
            proc = self.start(comp["name"], comp["argv"])
            if comp.get("ready_url"):
                failure = self.wait_ready(comp["name"], proc, comp["ready_url"],
                                          float(self.plan["ready_timeout"]))
                if failure:
                    _log(f"restart of {comp['name']} failed: {failure}")
        _log(f"restarted {', '.join(c['name'] for c in plan)}")

    def owner_gone(self) -> bool:
        return self.owner is not None and not procs.alive(self.owner)

    # -- lifecycle -----------------------------------------------------------------
    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.layout.log(name).open("ab")
        parent = os.getpid()

        def preexec() -> None:
            procs.set_pdeathsig()
            if os.getppid() != parent:  # supervisor died before prctl took effect
                os._exit(1)

        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.layout.root,
            preexec_fn=preexec,  # the supervisor is single-threaded
            close_fds=True,
        )
        log.close()
        self.children.append((name, proc))
        self.record_pids()
        _log(f"started {name} pid {proc.pid}")
        return proc

    def wait_ready(self, name: str, proc: subprocess.Popen[bytes], url: str, timeout: float) -> str:
        """Return "" when ready, else a reason."""
        pki = Pki(Path(self.plan["pki_dir"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stopping:
                return f"stopped while waiting for {name} ({self.stop_reason})"
            if self.owner_gone():
                self.request_stop("owner process exited")
                return "owner process exited"
            if proc.poll() is not None:
                return f"{name} exited with code {proc.returncode}"
            if http_ok(url, pki, timeout=2.0):
                return ""
            time.sleep(POLL_S)
        return f"{name} not ready after {timeout:.0f}s ({url})"

    def stop_all(self) -> None:
        for name, proc in reversed(self.children):
            self._stop(name, proc)

    def _stop(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _log(f"{name} ignored SIGTERM for {STOP_GRACE_S:.0f}s; killing")
                proc.kill()
                proc.wait()
            _log(f"stopped {name} (exit {proc.returncode})")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, self._on_restart)
        me = procs.identify(os.getpid())
        assert me is not None
        write_json(self.layout.supervisor_pid, me.to_json())
        self.status("starting")
        failure = ""
        try:
            for comp in self.plan["components"]:
                if self.stopping:
                    failure = f"stopped during start ({self.stop_reason})"
                    break
                self.status("starting", f"starting {comp['name']}")
                proc = self.start(comp["name"], comp["argv"])
                if comp.get("ready_url"):
                    failure = self.wait_ready(
                        comp["name"], proc, comp["ready_url"], float(self.plan["ready_timeout"])
                    )
                    if failure:
                        failure = f"{failure}; see {self.layout.log(comp['name'])}"
                        break
            if failure:
                _log(f"start failed: {failure}")
                self.status("failed", failure)
                self.stop_all()
                return 1
            self.status("running")
            _log("all components started")
            return self.loop()
        finally:
            self.stop_all()
            if not failure:
                self.status("stopped", self.stop_reason)
            _log("exiting")

    def loop(self) -> int:
        next_owner_check = 0.0
        while not self.stopping:
            now = time.monotonic()
            if now >= next_owner_check:
                next_owner_check = now + OWNER_POLL_S
                if self.owner_gone():
                    assert self.owner is not None
                    self.request_stop(f"owner pid {self.owner.pid} exited")
                    break
            if self.restart_requested:
                self.restart()
            for name, proc in self.children:
                if name not in self.exited and proc.poll() is not None:
                    self.exited.add(name)
                    msg = f"{name} exited unexpectedly with code {proc.returncode}"
                    _log(f"{msg}; see {self.layout.log(name)}")
                    self.status("degraded", msg)
            time.sleep(POLL_S)
        return 0


def main(argv: list[str]) -> int:
    layout = Layout(Path(argv[0]))
    # Fork once more so the supervisor is not a child of whoever ran ``up``: that
    # process reaps the intermediate at once and never holds a running child.
    if os.fork() > 0:
        os._exit(0)
    try:
        return Supervisor(layout).run()
    except Exception as e:
        _log(f"crashed: {e!r}")
        write_json(layout.status, {"state": "failed", "message": f"supervisor crashed: {e!r}"})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
