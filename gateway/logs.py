"""Structured logs: one JSON object per line, from the standard ``logging`` module.

The gateway logs through plain ``logging`` calls and puts structured fields in ``extra``::

    _log.info("gateway serving", extra={"node_id": "zj-330000", "listen": "0.0.0.0:7443"})

and :class:`JsonFormatter` writes::

    {"ts": "2026-03-09T08:00:00.123Z", "level": "INFO", "logger": "creditlink.gateway",
     "msg": "gateway serving", "node_id": "zj-330000", "listen": "0.0.0.0:7443"}

What is never logged: key material, store passwords (only ``redacted_store_url``), payloads and
the personal data in them (names, identity numbers), and request bytes. Log node ids, message
ids, reasons and sizes instead; they identify institutions and messages, not people.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

__all__ = ["JsonFormatter", "configure_logging"]

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message, then ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on one line."""
        stamp = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        # default=str: an unexpected field type must not lose the whole line.
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Send every log record (ours and the libraries') as JSON lines to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp logs every metrics scrape at INFO; asyncio's debug chatter is not ours either.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
