"""A tiny HTTPS client for the apiserver (admin client cert) and health probes."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from .pki import Pki


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Api:
    """JSON requests against one apiserver as the admin user."""

    def __init__(self, server: str, pki: Pki) -> None:
        self.server = server.rstrip("/")
        ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
        ctx.load_cert_chain(str(pki.client_crt("admin")), str(pki.client_key("admin")))
        self._ctx = ctx

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 10.0,
        content_type: str = "application/json", accept: str = "application/json",
    ) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - https URL built from our own server
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ctx) as resp:  # noqa: S310
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as e:
            with e:
                return int(e.code), e.read().decode(errors="replace")

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, text = self.request(method, path, body)
        if status >= 300:
            raise ApiError(status, text)
        return json.loads(text) if text else None

    def healthy(self, path: str = "/readyz", timeout: float = 3.0) -> bool:
        try:
            status, _ = self.request("GET", path, timeout=timeout)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False
        return status == 200


def http_ok(url: str, pki: Pki | None = None, timeout: float = 3.0) -> bool:
    """GET ``url``; True on HTTP 200. https URLs use the cluster CA and admin cert."""
    ctx: ssl.SSLContext | None = None
    if url.startswith("https://"):
        if pki is None:
            raise ValueError("https probe needs the cluster PKI")
        ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
        ctx.load_cert_chain(str(pki.client_crt("admin")), str(pki.client_key("admin")))
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:  # noqa: S310
            return int(resp.status) == 200
    except urllib.error.HTTPError as e:
        e.close()
        return False
    except (OSError, ssl.SSLError):
        return False
