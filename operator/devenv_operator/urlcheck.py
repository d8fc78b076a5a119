"""An HTTP GET of an exposed port's URL (the class's ``exposure.check``): whether the gateway
really serves it, not only that it accepted the route.

The request may go to another address than the hostname's own (``check.address``, e.g. the
gateway's Service inside the cluster), with the URL's hostname as Host header and as TLS
server name, so that an operator which cannot resolve the base domain can still check it.
A 2xx or 3xx answer passes; anything else, or no answer within the timeout, says why.
Blocking: called on a reconcile thread, at most once per exposed port and run, and only
while the port is not known to answer.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    """What a GET of the URL found."""

    ok: bool
    detail: str  # e.g. "answered 200", "answered 404", "no answer: timed out"


class _TLSTo(http.client.HTTPSConnection):
    """HTTPS to ``address`` that verifies the certificate of ``server_name``."""

    def __init__(self, host: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self._server_name)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def get(url: str, *, address: str | None = None, path: str | None = None,
        timeout: float = 2.0) -> Answer:
    """GET ``url`` (at ``address`` when given; ``path`` instead of the URL's own)."""
    parts = urlsplit(url)
    name = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    host, port = _split(address) if address else (name, parts.port or default_port)
    conn: http.client.HTTPConnection = (
        _TLSTo(host, port, name, timeout) if parts.scheme == "https"
        else http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        conn.request("GET", path or parts.path or "/", headers={
            "Host": parts.netloc, "User-Agent": "devenv-operator-url-check"})
        code = conn.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(False, f"no answer: {type(exc).__name__}: {exc}"[:200])
    finally:
        conn.close()
    return Answer(200 <= code < 400, f"answered {code}")
