"""A progress bar for long transfers: bytes, percent, rate and ETA on one terminal line, nothing elsewhere."""

import os
import time

from dfs.cli.formatting import human_size

# Below this a transfer of a single file is over before a bar could tell anyone anything.
BIG = 1024 * 1024
REDRAW_EVERY = 0.1


def _duration(seconds):
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Tracks ``total`` bytes over ``files`` files. Callbacks from the client may run in the reactor thread; the
    waiting thread never draws at the same time, so no lock is needed."""

    def __init__(self, stream, total, files=1, clock=time.monotonic, wanted=True):
        self.stream = stream
        self.total = total
        self.files = files
        self.clock = clock
        self.enabled = wanted and (total >= BIG or files > 1) and is_terminal(stream)
        self.started = clock()
        self.finished_bytes = 0
        self.finished_files = 0
        self.current = 0
        self.label = ""
        self._drawn_at = None

    @property
    def done(self):
        return self.finished_bytes + self.current

    def start(self, label):
        """A new file begins; returns the callback the client calls with this file's bytes so far."""
        self.label = label
        self.current = 0
        self._draw()

        def on_bytes(sent):
            self.current = sent
            self._draw()
        return on_bytes

    def end(self, size):
        """The current file is complete with ``size`` bytes."""
        self.finished_bytes += size
        self.finished_files += 1
        self.current = 0

    def finish(self):
        """Draw the final state and leave it on its own line."""
        if self.enabled:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()

    def break_line(self):
        """End the bar's line so a message starts on a fresh one; the bar resumes below it."""
        if self.enabled and self._drawn_at is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None

    def line(self, width, final=False):
        """The bar's text for a terminal ``width`` columns wide."""
        elapsed = max(self.clock() - self.started, 1e-6)
        done = self.done
        rate = done / elapsed
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        if final:
            timing = f"in {_duration(elapsed)}"
        elif rate > 0 and self.total:
            timing = f"ETA {_duration(max(self.total - done, 0) / rate)}"
        else:
            timing = "ETA --:--"
        count = f" {self.finished_files}/{self.files} files" if self.files > 1 else ""
        numbers = (f"{fraction * 100:3.0f}% {human_size(done)}/{human_size(self.total)}"
                   f" {human_size(rate)}/s {timing}{count}")
        room = width - len(numbers) - 1
        bar_width = min(30, max(room - 24, 0))
        bar = ""
        if bar_width >= 5:
            filled = int(fraction * bar_width)
            bar = "[" + "#" * filled + "-" * (bar_width - filled) + "] "
        label_room = room - len(bar) - 1
        label = self.label if len(self.label) <= label_room else "…" + self.label[-(label_room - 1):]
        label = label if label_room > 1 else ""
        return f"{label.ljust(max(label_room, 0))} {bar}{numbers}"[: width - 1]

    def _draw(self, final=False):
        if not self.enabled:
            return
        now = self.clock()
        if not final and self._drawn_at is not None and now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        width = _width(self.stream)
        self.stream.write("\r" + self.line(width, final) + "\x1b[K")
        self.stream.flush()


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80
