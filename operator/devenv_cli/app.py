"""``kubectl devenv``: the console script ``kubectl-devenv``: arguments, and exit codes.

Exit codes (``exits``; ``exits.Outcome`` for ``wait``; the same meanings elsewhere)::

    0  done (wait: Ready)
    1  failed (wait: the environment Failed; others: the API refused, or a render failed)
    2  wait: timed out
    3  wait: deleted while waiting; any command: the environment does not exist
    4  usage, kubeconfig, permission or connection error

``port-forward``, ``logs`` and ``exec`` check what they name first (exit 1 for a service,
port or job the environment does not have), then become kubectl: from there on the exit
code is kubectl's.

Every error ends as one sentence on stderr and its exit code, never a traceback; this is
the one place errors are mapped onto exit codes.

Nothing here imports the Kubernetes client: ``api.connect`` does, when a command needs the
cluster, so ``--help``, ``--version`` and an offline ``render -f`` start without it; and
``commands`` (with the models, pydantic) is imported once the arguments are parsed, so
``--help`` and ``--version`` start without those too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from devenv_cli import api as cli_api
from devenv_cli import shells
from devenv_cli.api import Api, Connection
from devenv_cli.exits import EXIT_ERROR, EXIT_FAILED, EXIT_NOT_FOUND, Unavailable, UsageError
from devenv_operator import errors

PROG = "kubectl devenv"
DISTRIBUTION = "devenv-operator"  # the plugin ships in the operator's distribution


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code 2 means timeout here
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"error: {message}\n")


def version() -> str:
    """The project's version: ``pyproject.toml``'s when run from a source checkout (an
    editable install's metadata keeps the version of its last sync), else the installed
    distribution's; ``unknown`` with neither."""
    return _source_version() or _installed_version()


def _source_version() -> str | None:
    import tomllib

    path = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text()).get("project") or {}
    except (OSError, tomllib.TOMLDecodeError):
        return None
    found = project.get("version")
    return str(found) if project.get("name") == DISTRIBUTION and found else None


def _installed_version() -> str:
    from importlib import metadata  # only for --version: it costs more than it seems

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (argparse's own wants it up front)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{PROG} {version()}")  # to stdout, as argparse's own --version
        parser.exit(0)


# --- the parser -------------------------------------------------------------------------------

STABLE_FOR_HELP = ("Ready must hold this long before it counts (default 5s; 0: at once): a "
                   "container that crashes right after starting is briefly Ready")
# A function that adds one subcommand, with the cluster flags, and returns its parser.
AddCommand = Callable[[str, str], argparse.ArgumentParser]


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog=PROG, description="Create, wait for, inspect and extend "
                  "DevEnvironments (shipit.dev) from a terminal or a CI pipeline.")
    top.add_argument("--version", action=_Version, help="print the version and exit")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _cluster_flags()

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=text, description=text)

    for add in (_create, _wait, _inspect, _reach, _change, _render, _list, _completion):
        add(command)
    return top


def _cluster_flags() -> _Parser:
    common = _Parser(add_help=False)
    conn = common.add_argument_group("cluster (as kubectl)")
    conn.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, "
                      "~/.kube/config, or the pod's ServiceAccount)")
    conn.add_argument("--context", help="kubeconfig context to use")
    conn.add_argument("-n", "--namespace", help="create: the environment's namespace "
                      "(spec.namespace); DevEnvironments themselves are cluster-scoped")
    conn.add_argument("--as", dest="as_user", metavar="USER", help="impersonate USER")
    conn.add_argument("--as-group", metavar="GROUP", help="impersonate GROUP (once)")
    return common


def _create(command: AddCommand) -> None:
    c = command("create", "Create (or reuse) an environment from a manifest or a template.")
    c.add_argument("name", nargs="?", help="default: the manifest's name, else derived from "
                   "the CI's variables")
    c.add_argument("-f", "--filename", help="a DevEnvironment manifest (YAML/JSON; - for stdin)")
    c.add_argument("--template", help="a DevEnvironmentTemplate in the cluster")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="a template parameter")
    c.add_argument("--ttl", help="lifetime, e.g. 2h")
    c.add_argument("--label", action="append", metavar="KEY=VALUE", help="a label")
    c.add_argument("--class", dest="class_name", metavar="CLASS", help="DevEnvironmentClass")
    c.add_argument("--owner", help="spec.owner (default: you, as the API server knows you)")
    c.add_argument("--name-prefix", help="no NAME and no CI detected: name PREFIX-ID-HASH "
                   "(or PREFIX-RANDOM); with a CI detected: instead of the repository's name")
    c.add_argument("--name-id", help="with --name-prefix: a stable id (PipelineRun, PR number)")
    c.add_argument("--wait", action="store_true", help="then wait as `wait` does")
    c.add_argument("--timeout", default="10m", help="with --wait (default 10m)")
    c.add_argument("--summary", metavar="FILE", help="with --wait: append a Markdown summary")
    c.add_argument("--stable-for", default="5s", metavar="DURATION", help=STABLE_FOR_HELP)
    c.add_argument("-o", "--output", choices=("name", "json"), default="name")


def _wait(command: AddCommand) -> None:
    w = command("wait", "Wait until Ready: exit 0 Ready, 1 Failed, 2 timeout, 3 deleted.")
    w.add_argument("name")
    w.add_argument("--timeout", default="10m", help="e.g. 10m (default)")
    w.add_argument("--summary", metavar="FILE",
                   help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    w.add_argument("--stable-for", default="5s", metavar="DURATION", help=STABLE_FOR_HELP)


def _inspect(command: AddCommand) -> None:
    d = command("diagnose", "Write the object, conditions, Events, pods and logs to a dir.")
    d.add_argument("name")
    d.add_argument("-o", "--output", required=True, metavar="DIR")
    d.add_argument("--format", choices=("yaml", "json"), default="yaml")
    d.add_argument("--tail", type=int, default=200, help="log lines per container")



PRINT_COMMAND_HELP = "print the kubectl command line instead of running it"


def _reach(command: AddCommand) -> None:
    e = command("endpoints", "Where each service port is: its in-cluster address, and its URL "
                "when exposed.")
    e.add_argument("name")
    e.add_argument("-o", "--output", choices=("table", "wide", "json"), default="table",
                   help="wide: also READY and REASON of each URL; json: status.endpoints")

    f = command("port-forward", "Forward a local port to a service's port (kubectl "
                "port-forward), for clusters without a gateway.")
    f.add_argument("name")
    f.add_argument("target", metavar="SERVICE[:PORT]",
                   help="PORT: a port's name or number (default: the service's first port)")
    f.add_argument("local_port", nargs="?", metavar="LOCAL_PORT",
                   help="default: the same number as the service's port; 0: a free one")
    f.add_argument("--address", help="local addresses to listen on (kubectl's; default "
                   "localhost)")
    f.add_argument("--print-command", action="store_true", help=PRINT_COMMAND_HELP)

    lg = command("logs", "Print the logs of a service (its Deployment) or a job (job/NAME).")
    lg.add_argument("name")
    lg.add_argument("target", metavar="SERVICE|job/JOB")
    lg.add_argument("-f", "--follow", action="store_true", help="stream the log")
    lg.add_argument("--tail", type=int, help="lines from the end (kubectl's default: all)")
    lg.add_argument("-p", "--previous", action="store_true",
                    help="the previous instance of the container (after a restart)")
    lg.add_argument("-c", "--container", help="default: the pod's only container")
    lg.add_argument("--since", metavar="DURATION", help="only newer lines, e.g. 10m")
    lg.add_argument("--timestamps", action="store_true")
    lg.add_argument("--print-command", action="store_true", help=PRINT_COMMAND_HELP)

    x = command("exec", "Run a command in a service's container: exec ENV SERVICE -- CMD...")
    x.add_argument("name")
    x.add_argument("service")
    x.add_argument("-c", "--container", help="default: the pod's only container")
    x.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    x.add_argument("-t", "--tty", action="store_true", help="stdin is a terminal (-it)")
    x.add_argument("--print-command", action="store_true", help=PRINT_COMMAND_HELP)


def _completion(command: AddCommand) -> None:
    c = command("completion", "Print a shell completion script (bash or zsh) for "
                "kubectl-devenv.")
    c.add_argument("shell", choices=shells.SHELLS)


def _change(command: AddCommand) -> None:
    x = command("extend", "Expire DURATION from now (never sooner, unless --allow-shorten).")
    x.add_argument("name")
    x.add_argument("duration", help="e.g. 4h")
    x.add_argument("--allow-shorten", action="store_true")
    x.add_argument("--timeout", default="30s", help="how long to wait for the operator")

    j = command("rerun-job", "Run a job of an environment again (a new Job), on purpose.")
    j.add_argument("name")
    j.add_argument("job", help="the job's name (spec.jobs[].name)")
    j.add_argument("--timeout", default="30s",
                   help="how long to wait for the operator to start it (default 30s)")

    rm = command("delete", "Delete an environment (not an error if it is already gone).")
    rm.add_argument("name")
    rm.add_argument("--wait", action="store_true", help="until it and its namespace are gone")
    rm.add_argument("--timeout", default="5m", help="with --wait (default 5m)")


def _render(command: AddCommand) -> None:
    r = command("render", "Print the DevEnvironment a template renders to; nothing created.")
    r.add_argument("name", nargs="?", help="metadata.name of the printed object")
    r.add_argument("--template", help="a DevEnvironmentTemplate in the cluster")
    r.add_argument("-f", "--filename", help="a DevEnvironmentTemplate file (offline)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="a template parameter")
    r.add_argument("--ttl")
    r.add_argument("--class", dest="class_name", metavar="CLASS")
    r.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")


def _list(command: AddCommand) -> None:
    ls = command("list", "List environments (--mine: those you own, or your groups own).")
    ls.add_argument("--mine", action="store_true")
    ls.add_argument("-o", "--output", choices=("table", "json"), default="table")


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``exec ENV SVC [flags] -- CMD...``: (the plugin's arguments, CMD). Split before
    argparse, which would take CMD's own flags for the plugin's."""
    words = list(argv)
    if words[:1] == ["exec"] and "--" in words:
        cut = words.index("--")
        return words[:cut], words[cut + 1:]
    return words, []


def run(argv: Sequence[str], out: TextIO) -> int:
    own, command_args = split_command(argv)
    args = parser().parse_args(own)
    args.command_args = command_args
    if args.command == "exec" and not command_args:
        raise UsageError("exec: give the command to run after --, e.g. "
                         "`kubectl devenv exec ENV SERVICE -- sh`")
    if args.command == "completion":
        out.write(shells.script(args.shell))
        return 0
    from devenv_cli import commands  # here, not above: --help and --version need none of it

    connection = Connection(args.kubeconfig, args.context, args.as_user, args.as_group)

    def connect() -> Api:
        return cli_api.connect(connection)

    if args.command == "render":
        return commands.cmd_render(connect, args, out)
    return commands.COMMANDS[args.command](connect(), args, out)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``kubectl-devenv`` console script."""
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout)
    except (UsageError, cli_api.ConfigError) as exc:
        _note(f"error: {exc}")
        return EXIT_ERROR
    except errors.NotFound as exc:
        _note(f"error: {exc}")
        return EXIT_NOT_FOUND
    except Unavailable as exc:
        _note(f"error: {exc}")
        return EXIT_FAILED
    except errors.Forbidden as exc:
        _note(f"error: forbidden: {exc}")
        return EXIT_ERROR
    except errors.Transient as exc:  # no answer, or a 5xx
        _note(f"error: the API server did not answer: {exc}")
        return EXIT_ERROR
    except errors.KubeError as exc:
        _note(f"error: the API server refused: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
