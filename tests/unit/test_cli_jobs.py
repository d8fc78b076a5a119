"""What `kubectl devenv` shows of status.jobs: the wait's progress lines, its failure report
and Markdown summary (a failed job named, with its last log lines), and diagnose's
jobs.txt."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from devenv_cli import diagnose, report, state, waiting
from devenv_cli.exits import Outcome
from devenv_cli.report import Evidence

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LOG = "connecting to db\nERROR: relation \"users\" does not exist"
FAILED_JOB = {"name": "migrate", "jobName": "migrate-0123456789", "state": "Failed",
              "reason": "JobFailed", "attempts": 2, "startedAt": "2026-12-07T08:59:00Z",
              "message": "failed after 2 attempts: BackoffLimitExceeded: Job has reached "
                         f"the specified backoff limit\nlast log lines:\n{LOG}"}
DONE_JOB = {"name": "seed", "jobName": "seed-abcdefabcd", "state": "Complete",
            "reason": "JobComplete", "attempts": 1, "message": "",
            "completedAt": "2026-12-07T08:58:00Z"}
MESSAGE = ("Job migrate failed after 2 attempts: BackoffLimitExceeded: Job has reached the "
           'specified backoff limit; last log line: ERROR: relation "users" does not exist')


def failed_env(jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "pr-1", "generation": 1}, "status": {
        "phase": "Failed", "observedGeneration": 1, "namespace": "dev-pr-1",
        "message": MESSAGE, "services": [], "jobs": jobs or [FAILED_JOB, DONE_JOB],
        "conditions": [{"type": "Ready", "status": "False", "reason": "JobFailed",
                        "message": MESSAGE},
                       {"type": "Stalled", "status": "True", "reason": "JobFailed",
                        "message": MESSAGE}]}}


def test_status_jobs_are_read_defensively() -> None:
    obj = failed_env([FAILED_JOB, {"state": "Running"}, "junk"])  # type: ignore[list-item]
    (view,) = state.jobs(obj)
    assert (view.name, view.state, view.attempts, view.job_name) == (
        "migrate", "Failed", 2, "migrate-0123456789")
    assert view.summary.startswith("failed after 2 attempts")
    assert view.log == LOG
    assert state.jobs({}) == []
    assert state.verdict(failed_env()) is Outcome.FAILED


def test_the_wait_shows_each_job_and_why_a_failed_one_failed() -> None:
    lines = [line for _, _, line in waiting.Progress(io.StringIO(), "pr-1", live=False)
             .lines(failed_env())]
    assert lines[0].startswith("devenv pr-1: Failed: Job migrate failed after 2 attempts")
    assert "  job migrate: Failed: failed after 2 attempts: BackoffLimitExceeded: Job has " \
           "reached the specified backoff limit" in lines
    assert "  job seed: Complete" in lines


def test_the_failure_report_names_the_job_and_prints_its_last_log_lines() -> None:
    text = report.failure_text(Evidence("pr-1", failed_env()), Outcome.FAILED, "40s", NOW)
    assert text.startswith("devenv pr-1 Failed: JobFailed: Job migrate failed after 2 attempts")
    assert "Jobs not complete:" in text
    assert "migrate-0123456789" in text
    assert "seed-abcdefabcd" not in text  # complete: not a blocker
    assert ("Last log lines of job migrate (migrate-0123456789):\n"
            "  | connecting to db\n"
            '  | ERROR: relation "users" does not exist') in text


def test_the_markdown_summary_names_the_job_and_fences_its_log() -> None:
    text = report.summary_markdown(Evidence("pr-1", failed_env()), Outcome.FAILED, "40s", NOW)
    assert "**JobFailed**" in text
    assert "### Jobs" in text
    tokens = MarkdownIt().enable("table").parse(text)
    fences = [t.content for t in tokens if t.type == "fence"]
    assert fences == [LOG + "\n"]


def test_diagnose_writes_the_jobs_and_the_failed_job_s_log(tmp_path: Path) -> None:
    written = diagnose.write_bundle(Evidence("pr-1", failed_env()), tmp_path, NOW)
    assert tmp_path / "jobs.txt" in written
    jobs = (tmp_path / "jobs.txt").read_text()
    header, migrate, seed = jobs.splitlines()[:3]
    assert header.split() == ["JOB", "STATE", "ATTEMPTS", "JOB", "OBJECT", "STARTED",
                              "COMPLETED", "MESSAGE"]
    assert migrate.split()[:4] == ["migrate", "Failed", "2", "migrate-0123456789"]
    assert seed.split()[:4] == ["seed", "Complete", "1", "seed-abcdefabcd"]
    assert '  | ERROR: relation "users" does not exist' in jobs
    assert "### Jobs" in (tmp_path / "README.md").read_text()
