"""kube.py's seam with the official client, and how API answers become error types."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes import client as k8s_client

from devenv_operator import errors, kube


def api_client(token: str = "t0ken") -> k8s_client.ApiClient:  # noqa: S107
    configuration = k8s_client.Configuration()
    configuration.host = "https://127.0.0.1:1"
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return k8s_client.ApiClient(configuration)


def test_the_client_internals_we_rely_on_are_still_there() -> None:
    """Fails loudly when a client upgrade moves its connection pool or its auth hook."""
    seam = kube.transport(api_client())
    assert seam.host == "https://127.0.0.1:1"
    assert isinstance(seam.pool, urllib3.PoolManager)
    headers: dict[str, str] = {}
    seam.authorize(headers, "/api/v1/namespaces", "GET")
    assert headers == {"authorization": "Bearer t0ken"}


def test_the_client_is_asked_for_credentials_on_every_request() -> None:
    """A refreshed token (exec plugins, projected tokens) is used by the next request."""
    client = api_client("first")
    seam = kube.transport(client)
    client.configuration.api_key = {"authorization": "second"}
    headers: dict[str, str] = {}
    seam.authorize(headers, "/api", "GET")
    assert headers["authorization"] == "Bearer second"


def status(code: int, reason: str, message: str = "m") -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": code, "reason": reason, "message": message}).encode()


@pytest.mark.parametrize(("code", "reason", "kind"), [
    (404, "NotFound", errors.NotFound),
    (409, "AlreadyExists", errors.AlreadyExists),
    (409, "Conflict", errors.Conflict),
    # The message of a 409 does not decide: only the Status reason does.
    (422, "Invalid", errors.Invalid),
    (400, "BadRequest", errors.Invalid),
    (403, "Forbidden", errors.Forbidden),
    (401, "Unauthorized", errors.Forbidden),
    (429, "TooManyRequests", errors.Transient),
    (500, "InternalError", errors.Transient),
    (503, "ServiceUnavailable", errors.Transient),
    (504, "Timeout", errors.Transient),
])
def test_api_answers_are_classified_by_code_and_status_reason(
        code: int, reason: str, kind: type[errors.KubeError]) -> None:
    found_reason, message = kube._status_of(status(code, reason, "object already exists"))
    error = errors.from_status(code, found_reason, message, "PATCH /x")
    assert type(error) is kind
    assert error.status == code
    assert error.reason == reason


def test_an_answer_that_is_not_a_status_keeps_its_text() -> None:
    assert kube._status_of(b"<html>bad gateway</html>") == ("", "<html>bad gateway</html>")
    error = errors.from_status(502, "", "<html>", "GET /x")
    assert isinstance(error, errors.Transient)
    assert error.reason == ""
