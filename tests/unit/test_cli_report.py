"""What `kubectl devenv` prints: outcomes and exit codes, tables, the failure report and the
Markdown step summary (which must parse as Markdown and name the blocker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from markdown_it import MarkdownIt

from devenv_cli import exits, report, state
from devenv_cli.exits import Outcome
from devenv_cli.report import Evidence, LogExcerpt

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def env(phase: str | None, *, generation: int = 1, observed: int | None = 1,
        reason: str = "ServiceNotReady", message: str = "", stalled: bool = False,
        services: list[dict[str, Any]] | None = None, **meta: Any) -> dict[str, Any]:
    ready = "True" if phase == "Ready" else "False"
    conditions = [
        {"type": "Ready", "status": ready, "reason": "Ready" if ready == "True" else reason,
         "message": message},
        {"type": "Stalled", "status": "True" if stalled else "False",
         "reason": reason if stalled else "NotStalled", "message": message if stalled else ""}]
    status: dict[str, Any] = {"phase": phase, "conditions": conditions, "namespace": "dev-x",
                              "message": message, "services": services or []}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "x", "generation": generation, **meta}, "status": status}


BLOCKED = {"name": "api", "ready": False, "readyReplicas": 0, "replicas": 1,
           "reason": "ImagePullFailed", "restarts": 4, "lastTerminationReason": "Error",
           "lastExitCode": 1,
           "message": "image unpullable.invalid/api:1 cannot be pulled | ErrImagePull"}
READY_SVC = {"name": "db", "ready": True, "readyReplicas": 1, "replicas": 1,
             "reason": "Available"}


# --- outcomes ----------------------------------------------------------------------------

@pytest.mark.parametrize(("obj", "outcome"), [
    (env("Ready"), Outcome.READY),
    (env("Failed", reason="ImagePullFailed", stalled=True), Outcome.FAILED),
    (env("Provisioning", stalled=True), Outcome.FAILED),  # Stalled alone is enough
    (env("Provisioning"), None),
    (env("Pending", observed=None), None),
    (env("Ready", generation=2, observed=1), None),  # Ready for an older spec
    (env("Failed", generation=2, observed=1, stalled=True), None),  # failed an older spec
    (env("Ready", deletionTimestamp="2026-12-01T11:59:00Z"), Outcome.GONE),
    (None, Outcome.GONE),
])
def test_a_status_settles_the_wait_only_for_the_current_generation(
        obj: dict[str, Any] | None, outcome: Outcome | None) -> None:
    assert state.verdict(obj) == outcome


def test_exit_codes_are_the_contracts() -> None:
    assert [int(o) for o in (Outcome.READY, Outcome.FAILED, Outcome.TIMEOUT, Outcome.GONE)] \
        == [0, 1, 2, 3]
    assert exits.EXIT_ERROR not in {int(o) for o in Outcome}


def test_services_are_read_defensively() -> None:
    old = env("Provisioning", services=[{"name": "web", "ready": False, "message": "0/1"},
                                        {"ready": True}, "junk"])
    (web,) = state.services(old)
    assert (web.restarts, web.last_termination(), web.counts) == (None, "", "0/0")
    (api,) = state.services(env("Failed", services=[BLOCKED]))
    assert (api.restarts, api.last_termination()) == (4, "Error (exit 1)")


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), (" 2h ", 7200)])
def test_durations(text: str, seconds: int) -> None:
    assert state.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "10", "10 m", "-5m", "1.5h", "10mins"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        state.parse_duration(text)


@pytest.mark.parametrize(("delta", "shown"), [
    (timedelta(seconds=5), "5s"), (timedelta(seconds=119), "119s"),
    (timedelta(minutes=5, seconds=10), "5m"), (timedelta(hours=2, minutes=3), "2h3m"),
    (timedelta(days=3, hours=1, minutes=5), "3d1h"), (timedelta(seconds=-30), "in 30s"),
    (-timedelta(hours=1, minutes=59, seconds=13), "in 1h59m")])
def test_ages_read_like_kubectls(delta: timedelta, shown: str) -> None:
    assert state.age(NOW - delta, NOW) == shown
    assert state.age(None, NOW) == "-"


# --- tables and the failure report ----------------------------------------------------------

def test_tables_pad_every_column_but_the_last_and_keep_one_line_per_row() -> None:
    text = report.table(("A", "BB", "C"), [["xxx", "", "multi\nline  text"], [1, None, "z"]])
    assert text.splitlines() == ["A     BB   C", "xxx   -    multi line text",
                                 "1     -    z"]


def evidence(obj: dict[str, Any] | None) -> Evidence:
    events = [
        {"type": "Normal", "reason": "Created", "message": "Created namespace dev-x",
         "involvedObject": {"kind": "DevEnvironment", "name": "x"},
         "lastTimestamp": "2026-12-01T11:58:00Z"},
        {"type": "Warning", "reason": "ImagePullFailed", "count": 3,
         "message": "service api: image cannot be pulled",
         "involvedObject": {"kind": "DevEnvironment", "name": "x"},
         "eventTime": "2026-12-01T11:59:30.000000Z"}]
    pods = [{"metadata": {"name": "api-1"}, "status": {"containerStatuses": [
        {"name": "api", "ready": False, "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
         "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}},
        {"metadata": {"name": "db-1"}, "status": {"containerStatuses": [
            {"name": "db", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}]
    logs = [LogExcerpt("dev-x", "api-1", "api", True, text="boom: ``` missing config\n"),
            LogExcerpt("dev-x", "api-1", "api", False, error="log unavailable: 400")]
    return Evidence("x", obj, events, pods, logs, ["Events in default: forbidden"])


def test_the_failure_report_names_the_blocker_conditions_events_and_logs() -> None:
    obj = env("Failed", reason="ImagePullFailed", stalled=True, services=[BLOCKED, READY_SVC],
              message="service api: image cannot be pulled")
    text = report.failure_text(evidence(obj), Outcome.FAILED, "42s", NOW)
    lines = text.splitlines()
    assert lines[0] == ("devenv x Failed: ImagePullFailed: service api: image cannot be "
                        "pulled")
    assert "Conditions:" in lines
    assert "Blocked services:" in lines
    blocked = lines[lines.index("Blocked services:") + 2]
    assert blocked.split()[:6] == ["api", "0/1", "ImagePullFailed", "4", "Error", "(exit"]
    assert not any(line.strip().startswith("db ") for line in lines)  # ready: not a blocker
    assert any("CrashLoopBackOff" in line and "api-1" in line for line in lines)
    assert not any(line.strip().startswith("db-1") for line in lines)
    assert any("ImagePullFailed" in line and "(x3)" in line and "30s" in line
               for line in lines)
    assert "Logs of dev-x/api-1 container api (previous instance):" in lines
    assert "  | boom: ``` missing config" in lines
    assert "  | (log unavailable: 400)" in lines
    assert "(could not collect: Events in default: forbidden)" in lines


def test_a_timeout_says_so_and_what_it_was_waiting_for() -> None:
    obj = env("Provisioning", message="waiting for service api (0/1 ready)",
              services=[{**BLOCKED, "reason": "ServiceNotReady"}])
    head = report.failure_text(Evidence("x", obj), Outcome.TIMEOUT, "5s", NOW).splitlines()[0]
    assert head == ("devenv x not Ready after 5s (timed out): ServiceNotReady: waiting for "
                    "service api (0/1 ready)")


def test_a_deleted_environment_reports_only_that() -> None:
    text = report.failure_text(Evidence("x", None), Outcome.GONE, "3s", NOW)
    assert text == "devenv x was deleted (after 3s)\n"


# --- Markdown ------------------------------------------------------------------------------

def tokens(markdown: str) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(markdown)


def test_the_summary_is_markdown_whose_heading_and_first_paragraph_name_the_blocker() -> None:
    obj = env("Failed", reason="ImagePullFailed", stalled=True, services=[BLOCKED, READY_SVC],
              message="service api: image cannot be pulled")
    text = report.summary_markdown(evidence(obj), Outcome.FAILED, "42s", NOW)
    parsed = tokens(text)
    headings = [parsed[i + 1].content for i, t in enumerate(parsed) if t.type == "heading_open"]
    assert headings[0] == "DevEnvironment `x` failed"
    assert {"Services", "Conditions", "Recent Events"} <= set(headings)
    paragraphs = [parsed[i + 1].content for i, t in enumerate(parsed)
                  if t.type == "paragraph_open"]
    assert paragraphs[0].startswith("**ImagePullFailed**: service api")
    assert "service `api` (ImagePullFailed" in paragraphs[1]
    # Tables are tables: the pipe inside the message does not split a cell.
    rows = [t for t in parsed if t.type == "tr_open"]
    assert rows
    cells = [t.content for t in parsed if t.type == "inline" and "ErrImagePull" in t.content]
    assert any("cannot be pulled | ErrImagePull" in c.replace("\\|", "|") for c in cells)
    header_cells = sum(1 for t in parsed if t.type == "th_open")
    assert header_cells >= len(report.SERVICE_HEADERS)
    # The log with backticks stays inside its code block.
    fences = [t for t in parsed if t.type == "fence"]
    assert any("boom: ``` missing config" in f.content for f in fences)


def test_the_ready_summary_lists_the_endpoints() -> None:
    obj = env("Ready", services=[READY_SVC])
    obj["status"]["endpoints"] = [{"service": "db", "port": 5432,
                                   "internal": "db.dev-x.svc.cluster.local:5432"}]
    text = report.summary_markdown(Evidence("x", obj), Outcome.READY, "12s", NOW)
    assert text.startswith("## DevEnvironment `x` is Ready\n")
    assert "| db | 5432 | db.dev-x.svc.cluster.local:5432 |" in text


def test_cells_cannot_break_out_of_a_markdown_table() -> None:
    assert report.md_table(("A",), [["a|b\nc <script>"]]).splitlines()[2] == \
        "| a\\|b c &lt;script> |"


# --- other output --------------------------------------------------------------------------

def test_one_line_states() -> None:
    assert report.one_line("x", env("Ready")) == "devenv x: Ready"
    assert report.one_line("x", env("Failed", reason="ClassNotFound", stalled=True,
                                    message="no class c")) == \
        "devenv x: Failed (ClassNotFound): no class c"
    assert report.one_line("x", None) == "devenv x: not found"


def test_list_summaries() -> None:
    obj = env("Ready")
    obj["spec"] = {"owner": "alice"}
    obj["metadata"]["creationTimestamp"] = "2026-12-01T11:00:00Z"
    obj["status"].update(readyServices="1/1", expiresAt="2026-12-01T14:00:00Z")
    assert report.summary_of(obj)["owner"] == "alice"
    row = report.list_table([obj], NOW).splitlines()[1].split()
    assert row == ["x", "dev-x", "Ready", "1/1", "alice", "in", "2h", "1h"]


def test_redaction_blanks_literal_secret_values_and_the_last_applied_copy() -> None:
    obj = {"metadata": {"name": "x", "managedFields": [{}], "annotations": {
        report.LAST_APPLIED: '{"stringData": {"password": "hunter2"}}', "keep": "me"}},
        "spec": {"config": {"secrets": [{"name": "db", "stringData": {"password": "hunter2"}},
                                        {"name": "gen", "generate": {"keys": ["k"]}}]}}}
    shown = report.redact(obj)
    assert "hunter2" not in repr(shown)
    assert shown["spec"]["config"]["secrets"][0]["stringData"] == {"password": "<redacted>"}
    assert shown["metadata"]["annotations"] == {"keep": "me"}
    assert "hunter2" in repr(obj)  # the original is untouched
