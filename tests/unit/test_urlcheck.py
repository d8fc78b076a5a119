"""The class's URL check: a GET through another address with the URL's Host header."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from devenv_operator import classes, urlcheck
from devenv_operator.reasons import Reason
from devenv_operator.status import RouteObservation
from devenv_operator.steps import expose


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []  # noqa: RUF012 (one server per test module)
    code = 200

    def do_GET(self) -> None:
        _Handler.seen.append((self.headers.get("Host", ""), self.path))
        self.send_response(_Handler.code)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen.clear()
    _Handler.code = 200
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_get_goes_to_the_address_with_the_url_s_host(server: str) -> None:
    answer = urlcheck.get("http://web-pr-1.devenv.localtest/app", address=server)
    assert answer == urlcheck.Answer(True, "answered 200")
    assert _Handler.seen == [("web-pr-1.devenv.localtest", "/app")]
    urlcheck.get("http://web-pr-1.devenv.localtest/app", address=server, path="/healthz")
    assert _Handler.seen[-1] == ("web-pr-1.devenv.localtest", "/healthz")
    _Handler.code = 503
    assert urlcheck.get("http://x.test/", address=server) == urlcheck.Answer(
        False, "answered 503")


def test_no_answer_says_why() -> None:
    answer = urlcheck.get("http://x.test/", address="127.0.0.1:1", timeout=1)
    assert not answer.ok
    assert answer.detail.startswith("no answer: ConnectionRefusedError")


def test_a_routed_port_is_ready_only_once_its_url_answers(server: str) -> None:
    check = classes.URLCheck(address=server)
    url = "http://web-pr-1.devenv.localtest/"
    routed = RouteObservation("web/8080", url, True, Reason.ROUTE_ACCEPTED, "routed by g")
    _Handler.code = 502
    seen = expose._checked(check, routed, set())
    assert (seen.ready, seen.reason) == (False, Reason.URL_NOT_ANSWERING)
    assert "answered 502" in seen.message
    _Handler.code = 200
    assert expose._checked(check, routed, set()).ready
    # Known to answer (ready in the last status): not asked again.
    count = len(_Handler.seen)
    assert expose._checked(check, routed, {url}) is routed
    assert len(_Handler.seen) == count
    pending = RouteObservation("web/8080", url, False, Reason.ROUTE_PENDING, "waiting")
    assert expose._checked(check, pending, set()) is pending
    assert expose.answered_before({"endpoints": [
        {"url": url, "ready": True}, {"url": "http://b/", "ready": False}]}) == {url}
