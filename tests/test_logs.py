"""The server's log lines: JSON one object a line (a traceback included), secrets masked in both formats."""

from __future__ import annotations

import json
import logging

from embassy.logs import MASK, JsonFormatter, TextFormatter

SECRET = "s3cr3t-store-key-value"


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError(f"bad value {SECRET}\nsecond line")
        except ValueError:
            import sys

            info = sys.exc_info()
    return logging.LogRecord("embassy.replication", logging.ERROR, __file__, 1, message, args, info)


def test_a_json_line_is_one_object_with_the_event_and_no_secret() -> None:
    line = JsonFormatter([SECRET]).format(record("store %s failed: %s", "lu", f"key {SECRET}\nrefused", exc=True))
    assert "\n" not in line
    doc = json.loads(line)
    assert (doc["level"], doc["logger"], doc["message"]) == (
        "ERROR",
        "embassy.replication",
        f"store lu failed: key {MASK}\nrefused",
    )
    assert doc["time"].endswith("Z") and isinstance(doc["pid"], int)
    assert "ValueError: bad value" in doc["exception"] and SECRET not in line


def test_a_text_line_masks_secrets_too() -> None:
    line = TextFormatter([SECRET]).format(record("uploading with %s", SECRET))
    assert line.endswith(f"embassy.replication ERROR uploading with {MASK}") and SECRET not in line
