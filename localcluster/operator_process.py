"""The devenv-operator as a child process, the way tests and benchmarks run it.

Runs ``python -m devenv_operator`` from this checkout against a kubeconfig, with its
metrics/health server on a free loopback port, waits for ``/readyz``, and makes sure the
process never outlives its parent (PDEATHSIG).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .procs import set_pdeathsig

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """One operator process; ``launch`` may be called again after ``stop``."""

    def __init__(self, kubeconfig: Path, settings: Mapping[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.settings = dict(settings or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, log_path: Path, settings: Mapping[str, str] | None = None,
               timeout: float = 60) -> None:
        """Start with our settings plus ``settings``; return once /readyz answers 200."""
        if self.running:
            raise RuntimeError("operator already running")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVENV_")}
        env.update(self.settings)
        env.update(settings or {})
        env.update(KUBECONFIG=str(self.kubeconfig), DEVENV_METRICS_PORT=str(self.port),
                   PYTHONPATH=str(ROOT / "operator"))
        env.setdefault("MALLOC_ARENA_MAX", "2")  # as the image sets it (see Dockerfile)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devenv_operator"], env=env, stdout=out,
                stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=set_pdeathsig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}; "
                                   f"see {log_path}")
            try:
                self.get("/readyz", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"operator did not become ready in {timeout:.0f}s; see {log_path}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("operator is not running")
        return self.proc.pid

    def stop(self, kill: bool = False, timeout: float = 20) -> None:
        """SIGTERM (or SIGKILL) and wait; escalates to SIGKILL after ``timeout``."""
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def get(self, path: str, timeout: float = 10) -> str:
        """GET a path of the operator's metrics/health server (loopback HTTP)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback HTTP only
            text: str = resp.read().decode()
            return text
