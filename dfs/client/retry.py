"""Back-pressure: which refusals a client sends again, and how long it waits first.

429 (too many requests) and 503 with a Retry-After (safe mode, a busy namenode) say "not now" and promise that
nothing was done; 507 (out of space) and every other error are answers, never retried. A namenode that refused the
connection or dropped it, when no other could take the request, is waited for by the same rule (dfs.client.core).
"""

import random
from email.utils import parsedate_to_datetime


class Backoff:
    """At most ``attempts`` retries, exponential from ``base`` seconds, each wait at most ``cap`` seconds but never
    shorter than the server's Retry-After, and spread by up to half again (``random``) so that clients refused
    together do not all come back together."""

    def __init__(self, attempts=8, base=0.5, cap=30.0, random=random.random):
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.random = random

    def delay(self, attempt, response, now):
        """Seconds to wait before retry number ``attempt`` (from 0) of a request answered with ``response``, or
        of one no namenode answered (None: each one restarting); None when it must not be retried. ``now`` is
        the clock's time (for a Retry-After date)."""
        if attempt >= self.attempts:
            return None
        hint = None if response is None else retry_after(response, now)
        if response is not None and response.code != 429 and not (response.code == 503 and hint is not None):
            return None
        wait = max(self.base * 2 ** attempt, hint or 0)
        return min(self.cap, wait * (1 + self.random() / 2))



def retry_after(response, now):
    """The Retry-After header in seconds (it is a number or an HTTP date), or None."""
    values = response.headers.getRawHeaders("retry-after")
    if not values:
        return None
    text = values[0].strip() if isinstance(values[0], str) else values[0].decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return None
