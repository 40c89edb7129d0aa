"""The server's log lines: ``[server] log_format = "text"`` (the default) or ``"json"``.

JSON: one object a line, for every event of the supervisor and of each worker: ``time`` (UTC, ISO
8601), ``level``, ``logger``, ``pid``, ``message``, and ``exception`` (the traceback as one string)
when there is one. Python's warnings are routed through the same handler. Log messages never carry
a secret (each call site words its errors without them); as a second line of defence the supervisor
also masks, in every line, the secret values its config holds (store credentials, dump commands'
variables).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
MASK = "[secret]"


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return _masked(json.dumps(doc, ensure_ascii=False), self.secrets)


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return _masked(super().format(record), self.secrets)


def _masked(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in line:
            line = line.replace(secret, MASK)
    return line


def configure_logging(log_format: str, secrets: Iterable[str] = ()) -> None:
    """Log INFO and above to stderr in ``log_format`` ("text" or "json"), replacing earlier handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
