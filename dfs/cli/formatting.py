"""Text the CLI prints: sizes, times, permission strings, aligned tables and JSON."""

import json
import stat as modes
import time

_UNITS = "KMGTPE"


def human_size(n):
    """Bytes the way ``ls -h`` shows them: 999, 1.0K, 12K, 3.4M (powers of 1024)."""
    n = int(n)
    if abs(n) < 1024:
        return str(n)
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f}{unit}" if abs(value) < 10 else f"{value:.0f}{unit}"
    raise AssertionError("unreachable")


def size(n, human):
    return human_size(n) if human else str(int(n))


def duration(seconds):
    """A length of time in one short word: 4.2s, 17m, 3.5h, 12.0d."""
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def when(milliseconds):
    """A WebHDFS time (ms since the epoch) in local time, minute precision, like ``hdfs dfs -ls``."""
    if not milliseconds:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(milliseconds / 1000))


def when_precise(milliseconds):
    if not milliseconds:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(milliseconds / 1000)) + f".{milliseconds % 1000:03d}"


def add_at_option(parser):
    """``--at TIME``, of the commands that read the past (the namenode parses TIME: dfs.moments)."""
    parser.add_argument("--at", metavar="TIME", help='as it was at TIME (ISO 8601, milliseconds since the epoch, or'
                                                     ' "10 minutes ago"), within the namenode\'s --history-retention')


def is_dir(status):
    return status.get("type") == "DIRECTORY"


def mode_string(status):
    """``drwxr-xr-x`` from a FileStatus's octal permission string."""
    bits = int(status.get("permission") or "0", 8)
    kind = modes.S_IFDIR if is_dir(status) else modes.S_IFREG
    return modes.filemode(kind | bits)


def long_row(status, name, human):
    """The columns of ``ls -l``: mode, replication, owner, group, size, mtime, name (HDFS order)."""
    replication = "-" if is_dir(status) else str(status.get("replication", "-"))
    return [mode_string(status), replication, status.get("owner", ""), status.get("group", ""),
            size(status.get("length", 0), human), when(status.get("modificationTime")), name]


def table(rows, right=()):
    """Rows of strings as aligned text; columns listed in ``right`` are right-aligned, the last is never padded."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if i == len(row) - 1:
                cells.append(cell)
            elif i in right:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def to_json(value):
    return json.dumps(value, indent=2, sort_keys=True)
