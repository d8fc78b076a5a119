"""``up``, ``down`` and ``make run`` against a cluster that is already there.

No control plane is run. A state dir is laid out the way ``up`` and the supervisor write
it, with real certificates; the supervisor is a real ``sleep`` process whose identity is in
``supervisor.pid``, and the apiserver, where one is needed, is a loopback HTTPS server that
answers ``/readyz`` (optionally slowly, as a loaded apiserver does) or a port that accepts
connections and never answers. What must hold: a cluster whose supervisor is alive is never
stopped by ``up`` or ``make run``; only state left by a dead supervisor is cleaned; ``down``
with nothing running says so and succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from localcluster import __main__ as cli
from localcluster import cluster, devrun, pki, procs
from localcluster.cluster import MARKER, Seen, Verdict, assess
from localcluster.components import Layout
from localcluster.config import LocalClusterError

# -- the decision, pure ------------------------------------------------------------------

LIVE_STATES = [None, "starting", "running", "degraded", "stopped", "failed", "odd"]


@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.parametrize("answering", [True, False])
@pytest.mark.parametrize("has_info", [True, False])
def test_a_live_supervisor_is_never_cleaned_or_replaced(
    state: str | None, answering: bool, has_info: bool
) -> None:
    verdict, why = assess(Seen(True, True, state, "", has_info, answering))
    assert verdict in (Verdict.REUSE, Verdict.WAIT, Verdict.REFUSE)
    assert why


@pytest.mark.parametrize(
    ("seen", "verdict"),
    [
        (Seen(False, False), Verdict.START),
        (Seen(True, False, "running"), Verdict.CLEAN_STALE),
        (Seen(True, True, "running", answering=True), Verdict.REUSE),
        # The bug: alive, and the apiserver slow to answer under load, was called stale.
        (Seen(True, True, "running", answering=False), Verdict.WAIT),
        (Seen(True, True, "starting", "starting kube-apiserver"), Verdict.WAIT),
        (Seen(True, True, None), Verdict.WAIT),
        (Seen(True, True, "stopped", "signal SIGTERM"), Verdict.WAIT),
        (Seen(True, True, "degraded", "kwok exited unexpectedly"), Verdict.REFUSE),
        (Seen(True, True, "running", has_info=False, answering=True), Verdict.REFUSE),
    ],
)
def test_assess(seen: Seen, verdict: Verdict) -> None:
    assert assess(seen)[0] is verdict


def test_refusal_says_why() -> None:
    assert "kwok exited" in assess(Seen(True, True, "degraded", "kwok exited"))[1]


# -- a state dir with a fake supervisor --------------------------------------------------


@dataclass
class State:
    layout: Layout
    supervisor: subprocess.Popen[bytes]

    @property
    def root(self) -> Path:
        return self.layout.root

    def supervisor_alive(self) -> bool:
        ident = procs.identify(self.supervisor.pid)
        return ident is not None and procs.alive(ident)

    def intact(self) -> bool:
        """The cluster's data is still there (what ``down`` deletes)."""
        return (self.root / MARKER).exists() and (self.layout.etcd_data / "db").exists()

    def set_status(self, state: str, message: str = "") -> None:
        write(self.layout.status, {"state": state, "message": message})


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data) + "\n")


def lay_out(root: Path, server: str, supervisor: procs.ProcId, state: str) -> Layout:
    """A state dir as ``up`` and the supervisor leave it (same files, same formats)."""
    layout = Layout(root)
    layout.etcd_data.mkdir(parents=True)
    (layout.etcd_data / "db").write_text("precious")
    (root / MARKER).write_text("state dir of a localcluster\n")
    pki.generate(layout.pki.dir)
    pki.write_kubeconfig(layout.kubeconfig, server, layout.pki, "admin")
    write(root / "cluster.json", {"server": server, "port_base": 26443, "nodes": ["n0"]})
    write(layout.supervisor_pid, supervisor.to_json())
    write(layout.status, {"state": state, "message": ""})
    write(layout.pids, [])
    return layout


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _identity(proc: subprocess.Popen[bytes]) -> procs.ProcId:
    ident = procs.identify(proc.pid)
    assert ident is not None
    return ident


class _Readyz(BaseHTTPRequestHandler):
    server: _SlowServer

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    delay = 0.0
    gateway_installs: list[str]


@pytest.fixture
def apiserver_port() -> Iterator[socket.socket]:
    """A loopback port; the test makes it an HTTPS /readyz or leaves it silent."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections complete in the kernel and are never answered
    try:
        yield sock
    finally:
        sock.close()


def serve_readyz(sock: socket.socket, layout: Layout, delay: float) -> _SlowServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(layout.pki.server_crt), str(layout.pki.server_key))
    server = _SlowServer(sock.getsockname(), _Readyz, bind_and_activate=False)
    server.socket.close()
    server.socket = ctx.wrap_socket(sock.dup(), server_side=True)
    server.delay = delay
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def live(
    tmp_path: Path,
    sleeper: subprocess.Popen[bytes],
    apiserver_port: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
) -> State:
    """A running cluster (supervisor alive, status running) whose apiserver is silent."""
    port = apiserver_port.getsockname()[1]
    layout = lay_out(tmp_path / "lc", f"https://127.0.0.1:{port}", _identity(sleeper), "running")

    def no_new_cluster() -> Path:
        raise AssertionError("up() went on to start a new cluster")

    # Reaching build() means up() decided to start afresh; never build here.
    monkeypatch.setattr(cluster, "build", no_new_cluster)
    return State(layout, sleeper)


@pytest.fixture
def answering(live: State, apiserver_port: socket.socket,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[_SlowServer]:
    server = serve_readyz(apiserver_port, live.layout, delay=0.0)
    # This apiserver answers only /readyz; the CRD install has its own tests.
    server.gateway_installs = []
    monkeypatch.setattr(cluster.gatewayapi, "install",
                        lambda api: server.gateway_installs.append(api.server) or {})
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- up ----------------------------------------------------------------------------------


def test_up_reuses_a_running_cluster(live: State, answering: _SlowServer) -> None:
    c = cluster.up(live.root, wait_timeout=10)
    assert not c.started
    assert c.kubeconfig == live.layout.kubeconfig
    assert live.supervisor_alive()
    assert live.intact()


def test_a_reused_cluster_gets_the_gateway_api_crds_too(
    live: State, answering: _SlowServer
) -> None:
    c = cluster.up(live.root, wait_timeout=10)
    assert answering.gateway_installs == [c.server]


def test_a_failed_crd_install_leaves_a_reused_cluster_running(
    live: State, answering: _SlowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(api: Any) -> dict[str, Any]:
        raise LocalClusterError("not served")

    monkeypatch.setattr(cluster.gatewayapi, "install", refuse)
    with pytest.raises(LocalClusterError, match="Gateway API CRDs failed: not served"):
        cluster.up(live.root, wait_timeout=10)
    assert live.supervisor_alive()
    assert live.intact()


def test_up_waits_for_a_slow_apiserver_instead_of_tearing_the_cluster_down(
    live: State, answering: _SlowServer
) -> None:
    # Longer than the old 3 s probe: under load /readyz took this long, and up() called the
    # cluster stale and ran down() on it, etcd data included.
    answering.delay = 3.3
    c = cluster.up(live.root, wait_timeout=20)
    assert not c.started
    assert live.supervisor_alive()
    assert live.intact()


def test_up_gives_up_on_a_silent_cluster_but_leaves_it_running(
    live: State, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(LocalClusterError) as err:
        cluster.up(live.root, wait_timeout=1.5)
    message = str(err.value)
    assert "left alone" in message
    assert f"supervisor pid {live.supervisor.pid}" in message
    assert "make cluster-down" in message
    assert f"localcluster down --state-dir {live.root}" in message
    assert "waiting for the cluster already running" in capsys.readouterr().err
    assert live.supervisor_alive()
    assert live.intact()


def test_up_waits_while_the_cluster_starts(
    live: State, answering: _SlowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    live.set_status("starting", "starting kube-scheduler")
    timer = threading.Timer(1.0, live.set_status, ("running",))
    timer.start()
    try:
        c = cluster.up(live.root, wait_timeout=10)
    finally:
        timer.cancel()
    assert not c.started
    assert "starting kube-scheduler" in capsys.readouterr().err
    assert live.supervisor_alive()


def test_up_refuses_a_degraded_cluster_and_leaves_it_running(live: State) -> None:
    live.set_status("degraded", "kwok exited unexpectedly with code 1")
    start = time.monotonic()
    with pytest.raises(LocalClusterError, match="kwok exited unexpectedly") as err:
        cluster.up(live.root, wait_timeout=30)
    assert time.monotonic() - start < 5  # waiting would not help: no wait
    assert "make cluster-down" in str(err.value)
    assert live.supervisor_alive()
    assert live.intact()


def _stale(tmp_path: Path, supervisor: procs.ProcId) -> Layout:
    return lay_out(tmp_path / "lc", "https://127.0.0.1:1", supervisor, "running")


def _dead_process() -> procs.ProcId:
    proc = subprocess.Popen(["true"])
    ident = _identity(proc)
    proc.wait()
    return ident


@pytest.mark.parametrize("which", ["dead", "pid reused"])
def test_up_cleans_state_whose_supervisor_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    me = _identity_of_self()
    # "pid reused": the pid runs, but it is another process than the one recorded.
    sup = _dead_process() if which == "dead" else procs.ProcId(me.pid, me.starttime - 1)
    layout = _stale(tmp_path, sup)

    class Started(Exception):
        pass

    def build() -> Path:
        raise Started

    monkeypatch.setattr(cluster, "build", build)
    monkeypatch.setattr(cluster, "port_in_use", lambda port: False)
    with pytest.raises(Started):
        cluster.up(layout.root, port_base=26443, wait_timeout=5)
    assert not layout.root.exists()


def _identity_of_self() -> procs.ProcId:
    ident = procs.identify(os.getpid())
    assert ident is not None
    return ident


# -- down --------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_down_with_no_state_dir_says_nothing_to_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "never-started"
    code, out, err = run_cli(capsys, "down", "--state-dir", str(root))
    assert (code, err) == (0, "")
    assert out == f"no cluster is running in {root}; nothing to stop\n"


@pytest.mark.parametrize("pid_file", ["dead", "damaged", "empty"])
def test_down_with_nothing_alive_removes_the_leftovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pid_file: str
) -> None:
    layout = _stale(tmp_path, _dead_process())
    if pid_file == "damaged":
        write(layout.supervisor_pid, {"pid": 12})
        write(layout.pids, [{"name": "etcd"}])
    elif pid_file == "empty":
        layout.supervisor_pid.write_text("")
    code, out, err = run_cli(capsys, "down", "--state-dir", str(layout.root))
    assert (code, err) == (0, "")
    assert out == f"no cluster was running in {layout.root}; removed its leftover state\n"
    assert not layout.root.exists()


def test_down_stops_a_running_cluster(
    live: State, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "down", "--state-dir", str(live.root))
    assert code == 0
    assert out == f"cluster in {live.root} stopped; state removed\n"
    assert not live.supervisor_alive()
    assert not live.root.exists()


def test_down_tolerates_a_concurrent_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` exiting and ``make cluster-down`` may remove the same state at once."""
    layout = _stale(tmp_path, _dead_process())
    real_rmtree = shutil.rmtree

    def rmtree_after_the_other_one(path: Path) -> None:
        real_rmtree(layout.root)  # the other ``down`` got there first
        real_rmtree(path)

    monkeypatch.setattr(cluster.shutil, "rmtree", rmtree_after_the_other_one)
    assert cluster.down(layout.root) is False
    assert not layout.root.exists()


# -- make run ----------------------------------------------------------------------------


@pytest.fixture
def make_run(
    live: State, monkeypatch: pytest.MonkeyPatch
) -> list[list[str]]:
    """devrun with the default state dir at the fake cluster, kubectl faked, no operator.

    kubectl's quick reachability check (``kubectl version``) fails, as it did under load;
    ``apply`` and ``wait`` succeed. Returns the kubectl command lines run.
    """
    monkeypatch.setenv("LOCALCLUSTER_STATE_DIR", str(live.root))
    monkeypatch.setattr(cluster, "EXISTING_WAIT_S", 1.5)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def kubectl(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if not str(args[0]).endswith("kubectl"):
            return real_run(args, **kw)
        calls.append([str(a) for a in args])
        return subprocess.CompletedProcess(args, 1 if "version" in args else 0, "", "")

    monkeypatch.setattr(subprocess, "run", kubectl)
    monkeypatch.setattr(devrun, "_run_operator", lambda env: 0)
    return calls


@pytest.mark.parametrize("kubeconfig", ["local", "unset"])
def test_make_run_never_stops_a_cluster_it_did_not_start(
    live: State,
    answering: _SlowServer,
    make_run: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kubeconfig: str,
) -> None:
    if kubeconfig == "local":
        monkeypatch.setenv("KUBECONFIG", str(live.layout.kubeconfig))
    else:
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert devrun.main() == 0
    assert any("apply" in c for c in make_run)
    assert live.supervisor_alive()
    assert live.intact()


def test_make_run_fails_clearly_on_a_busy_cluster_and_leaves_it_running(
    live: State,
    make_run: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(live.layout.kubeconfig))
    assert devrun.main() == 1
    err = capsys.readouterr().err
    assert "[run] error:" in err
    assert "make cluster-down" in err
    assert "Traceback" not in err
    assert not any("apply" in c for c in make_run)
    assert live.supervisor_alive()
    assert live.intact()

