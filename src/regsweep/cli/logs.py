"""Where regsweep's stderr goes: lines for people, or one JSON object a line for collectors.

Run from cron, a systemd timer or a Kubernetes CronJob, stderr lands in journald, Loki or
Elasticsearch, which parse JSON lines into fields: the level to alert on, the time, the
message. ``--log-format json`` turns every line regsweep writes on stderr into one such
object: status lines, warnings, errors, the final error line and library logs alike.
Data on stdout (``--output json``, tables) is not logging and stays as it is.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


#: The terminal's own lines (status, warnings, errors): shown whatever ``-v`` says, as the
#: text terminal shows them; ``-v`` is for the libraries' logs.
terminal_log = logging.getLogger("regsweep.terminal")
terminal_log.setLevel(logging.INFO)

_chosen = LogFormat.TEXT


def configure_logging(log_format: LogFormat, verbose: int) -> None:
    """Log to stderr in ``log_format``; ``verbose`` 1 adds info, 2 debug."""
    global _chosen
    _chosen = log_format
    level = logging.WARNING - 10 * min(verbose, 2)
    if log_format is LogFormat.JSON:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # one line per HTTP request drowns -v's summary (requests by kind): -vv shows them
    if verbose < 2:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def json_logs() -> bool:
    """Whether stderr carries JSON lines (``--log-format json``)."""
    return _chosen is LogFormat.JSON
