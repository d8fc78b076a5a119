"""``kubectl_complete-devenv``: the candidates for ``kubectl devenv <TAB>``.

kubectl (>= 1.26) runs this program (installed next to ``kubectl-devenv``) with the words
typed after ``devenv``, the last one the word being completed (empty after a space), and
shows what it prints: one candidate a line (``VALUE<TAB>DESCRIPTION``), then
``:DIRECTIVE`` (cobra's ShellCompDirective: ``NO_FILES``, ``DIRECTORIES``, or ``FILES``
when there is no candidate). The scripts of ``kubectl devenv completion`` ask it too.

Commands, flags and flag values come from the plugin's own parser, so they never drift
from it. Environment names, and an environment's services, ports and jobs, come from the
cluster the typed words (``--kubeconfig``, ``--context``, ``--as``) or KUBECONFIG name, in
one read (a list of DevEnvironments, or one of them) with a short timeout, with the rights
the other commands need already; whatever fails gives no candidates, never a message in
the middle of a command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devenv_cli import app, reach, state
from devenv_cli.api import Api, Connection, api_client
from devenv_operator import kinds

FILES, NO_FILES, DIRECTORIES = 0, 4, 16
TIMEOUT = 3.0  # seconds per read: a TAB that hangs is worse than one that offers nothing
Candidates = tuple[list[str], int]


class Cluster:
    """The reads completion makes, connected on first use."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._api: Api | None = None

    def api(self) -> Api:
        if self._api is None:
            self._api = Api(api_client(self._connection), timeout=TIMEOUT)
        return self._api

    def environments(self) -> list[str]:
        api = self.api()
        items, _ = api.list(kinds.DEVENV)
        return sorted(str((o.get("metadata") or {}).get("name")) for o in items)

    def environment(self, name: str) -> dict[str, Any] | None:
        api = self.api()
        return api.get(kinds.DEVENV, name)


ClusterFactory = Callable[[Connection], Any]  # a Cluster, or a fake of one in tests


@dataclass
class Typed:
    """What the words before the current one say, for one command."""

    positionals: list[str] = field(default_factory=list)
    pending: argparse.Action | None = None  # an option still waiting for its value
    given: dict[str, str] = field(default_factory=dict)  # option values, by dest
    after_dashdash: bool = False

    def connection(self) -> Connection:
        g = self.given
        return Connection(g.get("kubeconfig"), g.get("context"), g.get("as_user"),
                          g.get("as_group"))


def _commands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse has no public way to list subcommands; the parser is ours and tested.
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _read(parser: argparse.ArgumentParser, words: Sequence[str]) -> Typed:
    options = {flag: a for a in parser._actions for flag in a.option_strings}
    typed = Typed()
    for word in words:
        if typed.pending is not None:
            typed.given[typed.pending.dest] = word
            typed.pending = None
        elif typed.after_dashdash:
            continue
        elif word == "--":
            typed.after_dashdash = True
        elif word.startswith("-") and word != "-":
            flag, eq, value = word.partition("=")
            action = options.get(flag)
            if action is not None and eq:
                typed.given[action.dest] = value
            elif action is not None and action.nargs != 0:
                typed.pending = action
        else:
            typed.positionals.append(word)
    return typed


def _match(values: Sequence[str], current: str) -> list[str]:
    return [v for v in values if v.startswith(current)]


def candidates(words: Sequence[str], cluster: ClusterFactory = Cluster) -> Candidates:
    """What may come at the last of ``words``, and the directive."""
    *before, current = list(words) or [""]
    commands = _commands(app.parser())
    if not before:
        if current.startswith("-"):
            return _match(["--version", "--help"], current), NO_FILES
        return _match([f"{n}\t{p.description or ''}" for n, p in commands.items()],
                      current), NO_FILES
    parser = commands.get(before[0])
    if parser is None:
        return [], NO_FILES
    typed = _read(parser, before[1:])
    if typed.after_dashdash:
        return [], FILES  # the command line of a container: nothing known about it
    if typed.pending is not None:
        return _option_value(before[0], typed, current, cluster)
    if current.startswith("-"):
        flags = sorted({f for a in parser._actions for f in a.option_strings})
        return _match(flags, current), NO_FILES
    positional = [a for a in parser._actions if not a.option_strings]
    if len(typed.positionals) >= len(positional):
        return [], NO_FILES
    action = positional[len(typed.positionals)]
    if action.choices:
        return _match([str(c) for c in action.choices], current), NO_FILES
    return _positional(before[0], action.dest, typed, current, cluster)


def _option_value(command: str, typed: Typed, current: str,
                  cluster: ClusterFactory) -> Candidates:
    action = typed.pending
    assert action is not None
    if action.choices:
        return _match([str(c) for c in action.choices], current), NO_FILES
    if command == "diagnose" and action.dest == "output":
        return [], DIRECTORIES
    if action.dest in ("filename", "summary", "kubeconfig"):
        return [], FILES
    return [], NO_FILES


def _positional(command: str, dest: str, typed: Typed, current: str,
                cluster: ClusterFactory) -> Candidates:
    if dest == "name":
        if command in ("create", "render"):  # a new name
            return [], NO_FILES
        return _match(_safely(lambda: cluster(typed.connection()).environments()),
                      current), NO_FILES
    if dest not in ("target", "service", "job") or not typed.positionals:
        return [], NO_FILES
    env = typed.positionals[0]

    def of_environment() -> list[str]:
        return _of_environment(command, cluster(typed.connection()).environment(env))

    return _match(_safely(of_environment), current), NO_FILES


def _of_environment(command: str, obj: dict[str, Any] | None) -> list[str]:
    """The services (and ports, jobs) of an environment that ``command`` may name."""
    if obj is None:
        return []
    if command == "rerun-job":
        return [j.name for j in state.jobs(obj)]
    if command == "port-forward":
        with_ports = [e for e in reach.endpoints(obj) if e.port is not None]
        services = list(dict.fromkeys(e.service for e in with_ports))
        return services + [f"{e.service}:{e.port}" for e in with_ports]
    names = reach.service_names(obj)
    if command == "logs":
        names += [reach.JOB_PREFIX + j.name for j in state.jobs(obj)]
    return names


def _safely(read: Callable[[], list[str]]) -> list[str]:
    try:
        return read()
    except Exception:  # a TAB must never print a traceback into a command line
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """The ``kubectl_complete-devenv`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    found, directive = candidates(words)
    for line in found:
        print(line)
    print(f":{directive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
