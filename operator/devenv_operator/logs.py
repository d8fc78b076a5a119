"""Logging setup: Kubernetes-style text lines by default, one JSON object per line optionally."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the object, if known)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        obj = getattr(record, "k8s_ref", None)
        if isinstance(obj, dict) and obj.get("name"):
            entry["object"] = str(obj["name"])
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Kopf's per-object debug chatter and the HTTP client's are not actions worth a line.
    # Kopf's DEBUG lines print whole object bodies and patches, and a DevEnvironment's spec can
    # hold literal Secret values (config.secrets[].stringData): never let them through, even
    # when our own loggers run at DEBUG.
    logging.getLogger("kopf").setLevel(max(logging.INFO, logging.getLevelName(level)))
    # "Handler ... succeeded" for every watch event is noise.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
