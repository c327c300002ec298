"""Moments in the past as people and WebHDFS's ``at=`` name them: milliseconds since the epoch, ISO 8601
(``2026-12-06T23:10:00Z``; without a zone, UTC), or ``10 minutes ago``."""

import re
from datetime import datetime, timezone

from dfs.errors import BadRequest

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
AGO = re.compile(r"(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s+ago")


def parse(text, now):
    """Milliseconds since the epoch of ``text``; ``now`` (seconds) anchors "... ago"."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = AGO.fullmatch(text.lower())
    if match:
        return int((now - float(match.group(1)) * UNITS[match.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f'Not a time: "{text}" (milliseconds, ISO 8601 or "10 minutes ago")') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
