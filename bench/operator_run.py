"""The operator under benchmark: a subprocess on the cluster's kubeconfig, as users run it.

Besides start/stop it reads what the cost scenario needs: its /metrics (API requests by
verb, step histograms) and, from /proc, its CPU seconds (utime + stime) and resident memory.
(Not ``bench/operator.py``: that name would shadow the standard library's ``operator``.)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench import stats
from localcluster.operator_process import OperatorProcess

# The operator's defaults, except the metrics port; recorded in the results. The benchmarks
# measure environments without a class (no class is installed): a class would add its
# quota, LimitRange and policy to the operator's side only, not the floor's.
SETTINGS: dict[str, str] = {"DEVENV_REQUIRE_CLASS": "false"}


class Operator(OperatorProcess):
    """One devenv-operator process, plus what the benchmarks read from it."""

    def __init__(self, kubeconfig: Path, log_path: Path) -> None:
        super().__init__(kubeconfig, {**SETTINGS, "DEVENV_LOG_LEVEL": "WARNING"})
        self.log_path = log_path
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
        self.launch(self.log_path, timeout=timeout)

    def metrics(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        return stats.parse_prometheus(self.get("/metrics"))

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
