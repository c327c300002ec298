"""Log output for containers: one JSON object per line instead of twistd's text.

Chosen with ``--log-format json`` (env ``DFS_LOG_FORMAT=json``) or ``twistd --logger dfs.logs.json_observer``;
without either, twistd writes its usual human-readable lines.
"""

import json
import sys
from datetime import datetime, timezone

from twisted.logger import FileLogObserver, LogLevel, formatEvent

JSON_OBSERVER = "dfs.logs.json_observer"
FORMATS = ("text", "json")
# Keys of legacy (twisted.python.log) events that the formatted message already carries.
_LEGACY_KEYS = frozenset({"message", "format", "isError", "printed", "why", "failure", "time", "system"})
_PLAIN = (str, int, float, bool, type(None))


def event_as_json(event):
    """One event as a line of JSON: time, level, system and message, then the event's own plain fields."""
    record = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), timezone.utc).isoformat(timespec="milliseconds"),
        "level": event.get("log_level", LogLevel.info).name,
        "system": event.get("log_system") or event.get("log_namespace", "-"),
        "message": formatEvent(event),
    }
    for key, value in event.items():
        if not key.startswith("log_") and key not in _LEGACY_KEYS and key not in record and isinstance(value, _PLAIN):
            record[key] = value
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    return json.dumps(record, separators=(",", ":")) + "\n"


def json_observer(out=None):
    """A log observer factory for ``twistd --logger``: JSON lines on the standard output twistd started with."""
    return FileLogObserver(out or sys.stdout, event_as_json)


def log_to_json(options):
    """Make twistd, the parent of a role's ``options``, log JSON lines (unless it was given a ``--logger`` itself)."""
    parent = getattr(options, "parent", None)
    if parent is not None and parent.get("logger") is None:
        parent["logger"] = JSON_OBSERVER
