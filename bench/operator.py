"""The operator under benchmark: a subprocess on the cluster's kubeconfig, as users run it.

Besides start/stop it reads what the cost scenario needs: its /metrics (API requests by
verb, step histograms) and, from /proc, its CPU seconds (utime + stime) and resident memory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import stats
from localcluster.procs import set_pdeathsig

ROOT = Path(__file__).resolve().parents[1]
# The operator's defaults, except the metrics port; recorded in the results.
SETTINGS: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Operator:
    """One devenv-operator process."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.unexpected_exits: list[dict[str, object]] = []  # reported in the results

    def ensure_running(self) -> None:
        """Restart the operator if it exited on its own (or was killed from outside)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.unexpected_exits.append({"at": time.strftime("%H:%M:%S"),
                                          "returncode": self.proc.returncode})
            print(f"[bench] operator exited unexpectedly ({self.proc.returncode}); restarting",
                  file=sys.stderr, flush=True)
            self.proc = None
            self.start()

    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVENV_")}
        env.update(SETTINGS)
        env.update(KUBECONFIG=str(self.kubeconfig), DEVENV_METRICS_PORT=str(self.port),
                   PYTHONPATH=str(ROOT / "operator"), DEVENV_LOG_LEVEL="WARNING")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "devenv_operator"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         preexec_fn=set_pdeathsig)  # dies with us
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"operator did not become ready; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("operator is not running")
        return self.proc.pid

    def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/metrics", timeout=10) as resp:
            return stats.parse_prometheus(resp.read().decode())

    def requests_by_verb(self) -> dict[str, float]:
        samples = self.metrics().get("devenv_api_requests_total", {})
        return stats.by_label(samples, "verb")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise RuntimeError("no VmRSS")
