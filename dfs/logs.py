"""Log output: twistd's text lines made faster, or one JSON object per line for containers.

``--log-format json`` (env ``DFS_LOG_FORMAT=json``) picks JSON lines; otherwise, when twistd logs to the standard
output (``twistd -n`` without ``--logfile``), the same text lines twistd writes come from ``text_observer``, which
makes them several times faster. A ``--logger`` given to twistd always wins.
"""

import json
import sys
from datetime import datetime, timezone

from twisted.logger import FileLogObserver, LogLevel, formatEvent, formatEventAsClassicLogText, formatTime

from dfs.errors import NoSpace, Unavailable

JSON_OBSERVER = "dfs.logs.json_observer"
TEXT_OBSERVER = "dfs.logs.text_observer"
FORMATS = ("text", "json")
# Keys of legacy (twisted.python.log) events that the formatted message already carries.
_LEGACY_KEYS = frozenset({"message", "format", "isError", "printed", "why", "failure", "time", "system"})
_PLAIN = (str, int, float, bool, type(None))


def message(event):
    """``formatEvent(event)``, with str.format when it can do the work: Twisted's own formatting, which also allows
    calls in fields, costs ~15 us a line, and a datanode serving small reads logs one per request."""
    text = event.get("log_format")
    # Twisted wraps each value to allow calls, which dunder attributes would see: those take its path.
    if type(text) is str and "log_flattened" not in event and "__" not in text:
        try:
            return text.format_map(event)
        except Exception:
            pass
    return formatEvent(event)


class _TimeStamps:
    """twistd's time stamp, formatted once per second: it has no finer part."""

    last = (None, "-")  # (second, its stamp), replaced whole so another thread never sees half of it

    def __call__(self, when):
        if when is None:
            return "-"
        second = int(when)
        if when - second >= 0.9999995:  # Twisted's datetime rounds to the microsecond, into the next second
            second += 1
        cached, stamp = self.last
        if second != cached:
            stamp = formatTime(second)
            self.last = (second, stamp)
        return stamp


def event_as_text(event, stamps=None):
    """The line twistd's text observer writes for ``event``: "time [namespace#level] message"."""
    if "log_failure" in event:
        return formatEventAsClassicLogText(event)
    text = message(event)
    if not text:
        return None
    system = event.get("log_system")
    if system is None:
        level = event.get("log_level")
        system = f"{event.get('log_namespace', '-')}#{'-' if level is None else level.name}"
    else:
        try:
            system = str(system)
        except Exception:
            system = "UNFORMATTABLE"
    stamp = (stamps or formatTime)(event.get("log_time"))
    return f"{stamp} [{system}] {text}".replace("\n", "\n\t") + "\n"


def event_as_json(event):
    """One event as a line of JSON: time, level, system and message, then the event's own plain fields."""
    record = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), timezone.utc).isoformat(timespec="milliseconds"),
        "level": event.get("log_level", LogLevel.info).name,
        "system": event.get("log_system") or event.get("log_namespace", "-"),
        "message": message(event),
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


def text_observer(out=None):
    """A log observer factory for ``twistd --logger``: twistd's text lines on the standard output it started with."""
    stamps = _TimeStamps()
    return FileLogObserver(out or sys.stdout, lambda event: event_as_text(event, stamps))


def choose_observer(options):
    """Set twistd's ``--logger`` (the parent of a role's ``options``) from ``--log-format``, unless it was given."""
    parent = getattr(options, "parent", None)
    if parent is None or parent.get("logger") is not None:
        return
    if options["log-format"] == "json":
        parent["logger"] = JSON_OBSERVER
    elif to_stdout(parent):
        parent["logger"] = TEXT_OBSERVER


def to_stdout(twistd_options):
    """Whether twistd would write its text lines to the standard output (as UnixAppLogger decides)."""
    foreground = twistd_options.get("nodaemon") or twistd_options.get("debug")
    logfile = twistd_options.get("logfile")
    return bool(foreground and not twistd_options.get("syslog") and (not logfile or logfile == "-"))


def background_failure(logger, what):
    """An errback for a background pass (repair, trash, trimming): a namenode that cannot reach its database now
    (``Unavailable``: it restarts, fails over) or whose disk is full (``NoSpace``) is expected and logged in one
    line, as the next pass retries; anything else is a bug, logged with its traceback."""

    def logged(failure):
        if failure.check(Unavailable, NoSpace):
            logger.warn("{what}: {e}", what=what, e=failure.getErrorMessage())
        else:
            logger.failure(what, failure)

    return logged
