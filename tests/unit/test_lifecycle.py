"""Effective expiry: expiresAt over ttl over the default, clamped by the maximum."""

from datetime import UTC, datetime, timedelta
from typing import Any

from devenv_operator import lifecycle, models

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WARN = timedelta(minutes=15)


def expiry(annotations: dict[str, str] | None = None, default: str | None = None,
           maximum: str | None = None, **fields: Any) -> lifecycle.Expiry:
    spec = models.DevEnvironmentSpec.model_validate(
        {"services": [{"name": "a", "image": "x"}], **fields})
    return lifecycle.effective_expiry(
        spec, CREATED, annotations or {},
        default_ttl=models.parse_duration(default) if default else None,
        max_ttl=models.parse_duration(maximum) if maximum else None, warning=WARN)


def test_no_expiry_by_default() -> None:
    assert expiry().at is None


def test_ttl_counts_from_creation() -> None:
    result = expiry(ttl="8h")
    assert result.at == CREATED + timedelta(hours=8)
    assert result.warn_at == result.at - WARN


def test_expires_at_wins_over_ttl() -> None:
    assert expiry(ttl="8h", expiresAt="2026-01-05T00:00:00Z").at == datetime(
        2026, 1, 5, tzinfo=UTC)


def test_default_ttl_applies_unless_kept() -> None:
    assert expiry(default="1d").at == CREATED + timedelta(days=1)
    assert expiry(default="1d", annotations={"shipit.dev/keep": "true"}).at is None
    # keep does not exempt from an explicit ttl
    assert expiry(ttl="1h", default="1d", annotations={"shipit.dev/keep": "true"}).at == (
        CREATED + timedelta(hours=1))


def test_longer_requests_are_clamped_with_a_note() -> None:
    result = expiry(ttl="30d", maximum="7d")
    assert result.at == CREATED + timedelta(days=7)
    assert result.clamped_note is not None
    assert "7d" in result.clamped_note
    within = expiry(ttl="1d", maximum="7d")
    assert within.at == CREATED + timedelta(days=1)
    assert within.clamped_note is None


def test_lifecycle_arithmetic_saturates_instead_of_overflowing() -> None:
    """A spec written before the schema bounded it, or an extreme policy, never raises."""
    huge = models.DevEnvironmentSpec.model_construct(ttl="999999d999999d", expires_at=None,
                                                     services=[])
    result = lifecycle.effective_expiry(huge, datetime(9000, 1, 1, tzinfo=UTC), {},
                                        default_ttl=None, max_ttl=None, warning=WARN)
    assert result.at == datetime.max.replace(tzinfo=UTC)
    ancient = models.DevEnvironmentSpec.model_construct(
        ttl=None, expires_at=datetime(1, 1, 1, tzinfo=UTC), services=[])
    result = lifecycle.effective_expiry(ancient, CREATED, {}, default_ttl=None,
                                        max_ttl=models.parse_duration("1d"), warning=WARN)
    assert result.at == datetime(1, 1, 1, tzinfo=UTC)  # already expired: it will be deleted
    assert result.warn_at == datetime.min.replace(tzinfo=UTC)


def test_an_invalid_spec_still_expires_by_its_ttl_or_the_maximum() -> None:
    raw = {"ttl": "2h", "services": "not a list"}
    result = lifecycle.expiry_of(raw, None, CREATED, {}, default_ttl=None,
                                 max_ttl=models.parse_duration("1d"), warning=WARN)
    assert result.at == CREATED + timedelta(hours=2)
    garbage = lifecycle.expiry_of({"ttl": 7}, None, CREATED, {}, default_ttl=None,
                                  max_ttl=models.parse_duration("1d"), warning=WARN)
    assert garbage.at == CREATED + timedelta(days=1)
