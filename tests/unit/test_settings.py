"""Operator settings: DEVENV_* parsing, defaults, and errors that name the variable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from devenv_operator.settings import Settings, SettingsError, describe, load


def test_defaults_without_any_variable() -> None:
    settings = load({"PATH": "/usr/bin", "HOME": "/home/op"})
    assert settings.namespace_prefix == "dev-"
    assert settings.default_ttl is None
    assert settings.max_ttl is None
    assert settings.expiry_warning == timedelta(minutes=15)
    assert settings.resync_interval == timedelta(minutes=5)
    assert settings.metrics_port == 8080
    assert settings.log_format == "text"
    assert settings.log_level == "INFO"
    assert settings.peering is None


def test_values_are_parsed_from_their_variables() -> None:
    settings = load({
        "DEVENV_DEFAULT_TTL": "8h", "DEVENV_MAX_TTL": "7d", "DEVENV_EXPIRY_WARNING": "5s",
        "DEVENV_WORKERS": "4", "DEVENV_METRICS_PORT": "9102", "DEVENV_LOG_FORMAT": "json",
        "DEVENV_LOG_LEVEL": "DEBUG", "DEVENV_NAMESPACE_PREFIX": "pr-",
    })
    assert settings.default_ttl == timedelta(hours=8)
    assert settings.max_ttl == timedelta(days=7)
    assert settings.expiry_warning == timedelta(seconds=5)
    assert settings.workers == 4
    assert settings.metrics_port == 9102
    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    assert settings.namespace_prefix == "pr-"


def test_unset_durations_read_as_none() -> None:
    settings = load({})
    assert settings.default_ttl is None
    assert settings.max_ttl is None


def test_a_zero_expiry_warning_is_zero_not_the_default() -> None:
    """Before: timedelta(0) is falsy, and ``warning or 15m`` turned 0s into 15 minutes."""
    assert load({"DEVENV_EXPIRY_WARNING": "0s"}).expiry_warning == timedelta(0)


def test_metrics_port_zero_turns_the_server_off() -> None:
    assert load({"DEVENV_METRICS_PORT": "0"}).metrics_port == 0


@pytest.mark.parametrize(("variable", "raw"), [
    ("DEVENV_WORKERS", "lots"),
    ("DEVENV_WORKERS", "0"),
    ("DEVENV_METRICS_PORT", "70000"),
    ("DEVENV_METRICS_PORT", "http"),
    ("DEVENV_DEFAULT_TTL", "8 hours"),
    ("DEVENV_MAX_TTL", "-1d"),
    ("DEVENV_EXPIRY_WARNING", "15"),
    ("DEVENV_RESYNC_INTERVAL", "5 m"),
    ("DEVENV_PROVISIONING_RECHECK", "2.5s"),
    ("DEVENV_LOG_FORMAT", "xml"),
    ("DEVENV_LOG_LEVEL", "loud"),
    ("DEVENV_NAMESPACE_PREFIX", "Dev_"),
    ("DEVENV_NAMESPACE_PREFIX", "-dev-"),
])
def test_bad_values_are_refused_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load({variable: raw})


@pytest.mark.parametrize("variable", ["DEVENV_RESYNC_INTERVAL", "DEVENV_PROVISIONING_RECHECK",
                                      "DEVENV_MAX_TTL"])
def test_zero_periods_are_refused(variable: str) -> None:
    # A zero resync or recheck would reconcile in a busy loop; a zero maximum lifetime would
    # delete every environment on sight.
    with pytest.raises(SettingsError, match=variable):
        load({variable: "0s"})


def test_unknown_devenv_variables_are_refused_naming_them() -> None:
    with pytest.raises(SettingsError, match="DEVENV_TTL") as caught:
        load({"DEVENV_TTL": "1h"})
    # The message lists what would have been accepted.
    assert "DEVENV_DEFAULT_TTL" in str(caught.value)


def test_only_the_devenv_prefix_is_read() -> None:
    assert load({"DEVENVX_WORKERS": "lots", "devenv_workers": "lots"}).workers == 16


@pytest.mark.parametrize("variable", ["DEVENV_DEFAULT_TTL", "DEVENV_EXPIRY_WARNING",
                                      "DEVENV_WORKERS", "DEVENV_LOG_FORMAT"])
def test_an_empty_value_means_the_default(variable: str) -> None:
    # Templated manifests often render `value: ""` for "not set".
    name = variable.removeprefix("DEVENV_").lower()
    assert getattr(load({variable: ""}), name) == getattr(load({}), name)


def test_settings_are_frozen() -> None:
    settings = load({})
    with pytest.raises(ValidationError):
        settings.workers = 3  # type: ignore[misc]


def test_describe_lists_every_variable_with_a_default_and_a_description() -> None:
    rows = {variable: (default, text) for variable, default, text in describe()}
    assert set(rows) == {"DEVENV_" + name.upper() for name in Settings.model_fields}
    assert rows["DEVENV_EXPIRY_WARNING"][0] == "15m"
    assert rows["DEVENV_DEFAULT_TTL"][0] == "(none)"
    assert all(text for _, text in rows.values())


def test_service_link_variables_are_not_settings() -> None:
    # What the kubelet injects for a Service named devenv-operator-metrics.
    links = {
        "DEVENV_OPERATOR_METRICS_SERVICE_HOST": "10.0.0.7",
        "DEVENV_OPERATOR_METRICS_SERVICE_PORT": "8080",
        "DEVENV_OPERATOR_METRICS_SERVICE_PORT_METRICS": "8080",
        "DEVENV_OPERATOR_METRICS_PORT": "tcp://10.0.0.7:8080",
        "DEVENV_OPERATOR_METRICS_PORT_8080_TCP": "tcp://10.0.0.7:8080",
        "DEVENV_OPERATOR_METRICS_PORT_8080_TCP_PROTO": "tcp",
        "DEVENV_OPERATOR_METRICS_PORT_8080_TCP_PORT": "8080",
        "DEVENV_OPERATOR_METRICS_PORT_8080_TCP_ADDR": "10.0.0.7",
    }
    assert load({**links, "DEVENV_WORKERS": "4"}).workers == 4
    # A misspelt setting is still refused, and a real setting is still read.
    with pytest.raises(SettingsError, match="DEVENV_WORKER"):
        load({"DEVENV_WORKER": "4"})
    assert load({"DEVENV_METRICS_PORT": "9090"}).metrics_port == 9090
