"""Files of one line per user, ``user: ...`` (the groups file, the proxy users file), read again when they change."""

import os

from twisted.logger import Logger

log = Logger()


def user_lines(text, source, form):
    """``(number, user, rest)`` for each ``user: rest`` line of ``text``; blank lines and ``#`` comments skipped.
    ValueError naming ``source`` and the line for a malformed one (``form`` shows a good one) or a repeated user."""
    seen = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        user, colon, rest = line.partition(":")
        user = user.strip()
        if not colon or not user or " " in user or "\t" in user:
            raise ValueError(f"{source}:{number}: not a `{form}` line: {line!r}")
        if user in seen:
            raise ValueError(f"{source}:{number}: {user} is listed twice")
        seen.add(user)
        yield number, user, rest


class WatchedFile:
    """``parse(text, path)`` of the file at ``path``, parsed again when the file changes (checked at each ``read``).
    The first read raises what is wrong (the namenode refuses to start); later, a file removed or badly edited
    leaves the last good one in force and is logged once, rather than failing every request that reads it."""

    def __init__(self, path, parse):
        self.path = path
        self.parse = parse
        self._stamp = None
        self._value = None
        self._problem = None
        self.read()

    def read(self):
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp != self._stamp:
                self._stamp = stamp  # a bad version is parsed once, not at every read
                with open(self.path, encoding="utf-8") as f:
                    self._value = self.parse(f.read(), self.path)
                self._problem = None
        except (OSError, ValueError) as e:
            if self._value is None:
                raise
            if str(e) != self._problem:
                self._problem = str(e)
                log.error("{path} cannot be used ({error}); the last good version stays in force", path=self.path,
                          error=e)
        return self._value
