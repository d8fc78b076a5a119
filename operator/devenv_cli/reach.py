"""PURE: where an environment's services are, and the kubectl command lines that reach them.

``endpoints`` reads ``status.endpoints[]`` (and ``status.url``) for the ``endpoints``
command. ``namespace``, ``service``, ``port`` and ``job_object`` resolve what a user names
(``api``, ``api:http``, ``api:8080``, ``job/migrate``) against the environment's status,
and when it is not there say so with the names that would have worked
(``exits.Unavailable``). ``port_forward``, ``logs`` and ``exec_command`` build the
``kubectl`` arguments a user would otherwise type by hand, with the connection flags the
plugin was given (``api.Connection.flags``), so kubectl reaches the same cluster as the
same user.

Nothing here runs kubectl (``access`` does), talks to the API or reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devenv_cli import report, state
from devenv_cli.exits import Unavailable, UsageError
from devenv_operator.reasons import Condition

JOB_PREFIX = "job/"
# The keys of one endpoint in `endpoints -o json`, in this order; the last three only for
# an exposed port, as the status has them.
ENDPOINT_KEYS = ("service", "port", "internal", "url", "ready", "reason")


# --- endpoints -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """One entry of ``status.endpoints[]``."""

    service: str
    port: int | None
    internal: str
    url: str | None = None
    ready: bool | None = None  # None: not exposed (or an operator that does not say)
    reason: str = ""

    @property
    def exposed(self) -> bool:
        return bool(self.url)


def endpoints(obj: Mapping[str, Any] | None) -> list[Endpoint]:
    views = []
    for item in state.status_of(obj).get("endpoints") or []:
        if not isinstance(item, Mapping) or not item.get("service"):
            continue
        port, ready = item.get("port"), item.get("ready")
        views.append(Endpoint(
            str(item["service"]), port if isinstance(port, int) else None,
            str(item.get("internal") or ""), str(item["url"]) if item.get("url") else None,
            ready if isinstance(ready, bool) else None, str(item.get("reason") or "")))
    return views


def endpoints_json(obj: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``status.endpoints[]`` as the status has it, keys in ``ENDPOINT_KEYS`` order."""
    return [{key: item[key] for key in ENDPOINT_KEYS if key in item}
            for item in state.status_of(obj).get("endpoints") or []
            if isinstance(item, Mapping) and item.get("service")]


def _url_cell(e: Endpoint, wide: bool) -> str:
    if not e.url:
        return "-"
    return e.url if wide or e.ready is not False else f"{e.url} (not ready)"


def endpoints_table(obj: Mapping[str, Any] | None, wide: bool = False) -> str:
    """``SERVICE PORT ADDRESS URL`` (``-o wide``: and ``READY REASON``), then the
    environment's URL and, when not True, the ``EndpointsReady`` condition."""
    views = endpoints(obj)
    headers = ["SERVICE", "PORT", "ADDRESS", "URL"] + (["READY", "REASON"] if wide else [])
    rows = []
    for e in views:
        row = [e.service, e.port, e.internal, _url_cell(e, wide)]
        if wide:
            row += ["-" if e.ready is None else str(e.ready).lower(), e.reason or "-"]
        rows.append(row)
    lines = [report.table(headers, rows)]
    status = state.status_of(obj)
    if status.get("url"):
        lines.append(f"\nURL: {status['url']}")
    cond = state.condition(obj, Condition.ENDPOINTS_READY)
    if cond and cond.get("status") != "True":
        text = (f"{Condition.ENDPOINTS_READY}={cond.get('status')} "
                f"({cond.get('reason') or 'no reason'})")
        lines.append(text + (f": {cond['message']}" if cond.get("message") else ""))
    return "\n".join(lines)


def no_endpoints(name: str, obj: Mapping[str, Any] | None) -> str:
    """The sentence for an environment without endpoints: none declared, or none yet."""
    phase = state.status_of(obj).get("phase")
    if phase == "Ready":
        return f"devenv {name} has no endpoints: none of its services declares a port"
    return f"devenv {name} has no endpoints yet ({phase or 'Pending'}: {state.reason(obj)})"


# --- what a user names -----------------------------------------------------------------------

def namespace(name: str, obj: Mapping[str, Any] | None) -> str:
    """The environment's namespace (``status.namespace``)."""
    found = state.status_of(obj).get("namespace")
    if not found:
        phase = state.status_of(obj).get("phase") or "Pending"
        raise Unavailable(f"devenv {name} has no namespace yet ({phase}); "
                          f"`kubectl devenv wait {name}` waits for it")
    return str(found)


def service_names(obj: Mapping[str, Any] | None) -> list[str]:
    """Its services: in the status (also those a template gave it), else in the spec."""
    names = [s.name for s in state.services(obj)]
    names += [str(s["name"]) for s in ((obj or {}).get("spec") or {}).get("services") or []
              if isinstance(s, Mapping) and s.get("name")]
    names += [e.service for e in endpoints(obj)]
    return list(dict.fromkeys(names))


def service(name: str, obj: Mapping[str, Any] | None, wanted: str) -> str:
    known = service_names(obj)
    if wanted not in known:
        raise Unavailable(f"devenv {name} has no service {wanted!r} "
                          f"(services: {', '.join(known) or 'none'})")
    return wanted


def split_target(text: str) -> tuple[str, str | None]:
    """``api:http`` -> (``api``, ``http``); ``api`` -> (``api``, None)."""
    svc, sep, port = text.partition(":")
    return svc, (port if sep else None)


@dataclass(frozen=True)
class Port:
    """A port of a Service: its number, and its name when it has one."""

    number: int
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.number})" if self.name else str(self.number)


def ports(obj: Mapping[str, Any] | None, svc: str,
          service_object: Mapping[str, Any] | None = None) -> list[Port]:
    """The ports of ``svc``: from its Service object when given (names and numbers), else
    from ``status.endpoints`` (numbers)."""
    if service_object is not None:
        found = [Port(p["port"], str(p["name"]) if p.get("name") else None)
                 for p in (service_object.get("spec") or {}).get("ports") or []
                 if isinstance(p, Mapping) and isinstance(p.get("port"), int)]
        if found:
            return found
    return [Port(e.port) for e in endpoints(obj) if e.service == svc and e.port is not None]


def port(name: str, svc: str, available: Sequence[Port], wanted: str | None) -> Port:
    """The port ``wanted`` names (a number or a port name); None: the first one."""
    if not available:
        raise Unavailable(f"service {svc} of devenv {name} has no port (it declares none, "
                          "so there is no Service to forward to)")
    if wanted is None or wanted == "":
        return available[0]
    for p in available:
        if wanted == p.name or wanted == str(p.number):
            return p
    raise Unavailable(f"service {svc} of devenv {name} has no port {wanted!r} "
                      f"(ports: {', '.join(str(p) for p in available)})")


def job_object(name: str, obj: Mapping[str, Any] | None, wanted: str) -> str:
    """The Job object of the environment's job ``wanted`` (``status.jobs[].jobName``)."""
    views = state.jobs(obj)
    known = [j.name for j in views] or [
        str(j.get("name")) for j in ((obj or {}).get("spec") or {}).get("jobs") or []
        if isinstance(j, Mapping)]
    for view in views:
        if wanted in (view.name, view.job_name) and view.job_name:
            return view.job_name
    if wanted in known:
        raise Unavailable(f"job {wanted} of devenv {name} has not started yet (no Job)")
    raise Unavailable(f"devenv {name} has no job {wanted!r} (jobs: {', '.join(known) or 'none'})")


# --- kubectl command lines -------------------------------------------------------------------

def port_forward(flags: Sequence[str], ns: str, svc: str, remote: Port, local: str | None,
                 address: str | None = None) -> list[str]:
    """``port-forward -n NS svc/SERVICE LOCAL:PORT`` (LOCAL: the port's number, as kubectl
    defaults; 0: a free one, which kubectl prints)."""
    argv = ["port-forward", *flags, "-n", ns, f"svc/{svc}",
            f"{local if local else remote.number}:{remote.number}"]
    return argv + (["--address", address] if address else [])


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail: int | None = None
    previous: bool = False
    container: str | None = None
    since: str | None = None
    timestamps: bool = False


def logs(flags: Sequence[str], ns: str, target: str, opts: LogOptions) -> list[str]:
    """``logs -n NS TARGET`` (``deploy/SERVICE`` or ``job/JOB``) with kubectl's flags."""
    argv = ["logs", *flags, "-n", ns, target]
    argv += [flag for flag, on in (("-f", opts.follow), ("--previous", opts.previous),
                                   ("--timestamps", opts.timestamps)) if on]
    if opts.tail is not None:
        argv.append(f"--tail={opts.tail}")
    if opts.container:
        argv += ["-c", opts.container]
    if opts.since:
        argv.append(f"--since={opts.since}")
    return argv


def exec_command(flags: Sequence[str], ns: str, svc: str, command: Sequence[str], *,
                 container: str | None = None, stdin: bool = False, tty: bool = False
                 ) -> list[str]:
    """``exec -n NS deploy/SERVICE [-c C] [-i] [-t] -- COMMAND...``."""
    if not command:
        raise UsageError("give the command to run after --, e.g. `-- sh`")
    argv = ["exec", *flags, "-n", ns, f"deploy/{svc}"]
    argv += (["-c", container] if container else []) + (["-i"] if stdin else []) \
        + (["-t"] if tty else [])
    return [*argv, "--", *command]
