"""The status vocabulary is one set of types, shared by the operator, the CRD and the plugin."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devenv_operator import models, reasons, status
from devenv_operator.reasons import Condition, Phase, Reason

ROOT = Path(__file__).resolve().parents[2]


def test_the_crds_phases_are_the_phase_type() -> None:
    assert tuple(p.value for p in Phase) == models.PHASES


def test_every_condition_type_is_named_in_the_crds_description() -> None:
    described = models.Condition.model_fields["type"].description or ""
    for ctype in Condition:
        assert ctype.value in described, ctype


def test_reason_sets_are_made_of_reasons() -> None:
    for group in (reasons.FAILED, reasons.RECOVERABLE, reasons.STUCK, reasons.RUN_FAILURE):
        assert all(isinstance(r, Reason) for r in group)
    assert reasons.RECOVERABLE <= reasons.FAILED
    assert set(reasons.STUCK) <= reasons.FAILED


def test_the_enums_compare_equal_to_the_strings_read_back_from_the_api() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    computed = status.compute(status.Observation(generation=1, created_at=t0), {},
                              t0 + timedelta(seconds=1))
    assert computed.phase is Phase.PENDING
    assert computed.ready.reason == Reason.NAMESPACE_PENDING
    written = computed.as_dict()
    assert written["phase"] == Phase.PENDING
    assert type(written["phase"]) is str  # what json.dumps and the merge patch get


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_no_module_spells_a_reason_as_a_string_outside_the_vocabulary() -> None:
    """A reason written as a literal (``"ReadyTimeout"``) is how the operator and the
    plugin drifted apart before; outside reasons.py, they name ``Reason.X``."""
    # Ready, Terminating... are also phases or condition types; Available and Forbidden are
    # also Kubernetes' own (a Deployment's condition, an API Status reason).
    spelled = ({r.value for r in Reason} - {p.value for p in Phase}
               - {c.value for c in Condition} - {"Available", "Forbidden"})
    offenders = []
    for package in ("devenv_operator", "devenv_cli"):
        for path in sorted((ROOT / "operator" / package).rglob("*.py")):
            if path.name == "reasons.py":
                continue
            found = _string_literals(path) & spelled
            if found:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(found)}")
    assert not offenders, "\n".join(offenders)
