"""Peak resident memory of every server process, sampled with psutil in a background thread."""

import threading
import time

import psutil


class RSSSampler:
    """Samples the RSS of registered processes every `interval` seconds.

    Keeps, per process label, the peak over the whole benchmark and the largest growth inside a
    "window" (RSS at the window's start subtracted from the peak inside it), which is how the
    memory target ("no process grows by more than ~100 MiB while moving a big file") is read.
    """

    def __init__(self, interval=0.1):
        self.interval = interval
        self.peak = {}
        self.growth = {}
        self._procs = {}
        self._window = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def watch(self, label, pid):
        with self._lock:
            try:
                self._procs[label] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                return
        self._sample_one(label)

    def unwatch(self, label):
        with self._lock:
            self._procs.pop(label, None)

    def begin_window(self, name):
        """Start measuring growth for `name` (e.g. "dfs 512 MiB upload+download") from the current RSS."""
        with self._lock:
            labels = list(self._procs)
        start = {label: self._rss(label) for label in labels}
        with self._lock:
            self._window = (name, {k: v for k, v in start.items() if v is not None}, {})

    def end_window(self):
        with self._lock:
            window, self._window = self._window, None
        if window is None:
            return
        name, start, peaks = window
        for label, peak in peaks.items():
            grown = peak - start.get(label, peak)
            best = self.growth.get(label)
            if best is None or grown > best[0]:
                self.growth[label] = (grown, name)

    def _rss(self, label):
        proc = self._procs.get(label)
        if proc is None:
            return None
        try:
            return proc.memory_info().rss
        except psutil.Error:
            return None

    def _sample_one(self, label):
        rss = self._rss(label)
        if rss is None:
            return
        with self._lock:
            if rss > self.peak.get(label, 0):
                self.peak[label] = rss
            if self._window is not None and label in self._window[1]:
                peaks = self._window[2]
                if rss > peaks.get(label, 0):
                    peaks[label] = rss

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                labels = list(self._procs)
            for label in labels:
                self._sample_one(label)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
