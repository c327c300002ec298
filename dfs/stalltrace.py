"""Where the reactor was when it stalled: a thread that samples the event loop's stack while the lag probe is late.

The lag and held-CPU histograms say how often and how long the reactor went without a break; they cannot say in
what. With ``--stall-trace SECONDS`` a thread looks at the lag probe every fifth of that; while the probe is later
than that, it takes the reactor thread's stack (``sys._current_frames``) each time, and when the probe has run again
it logs the stall's length, the CPU the reactor's thread used in it (on a busy machine a stall is mostly a wait for
a core, and only the CPU tells work from waiting) and the places it saw most, one warning a stall. Pure Python gives the interpreter lock
up every few milliseconds (``sys.getswitchinterval``), so the thread gets to look during any long stretch of Python
work; a stretch inside one C call is seen as the call that made it.
"""

import os
import sys
import threading
import time
from collections import Counter

from twisted.application import service
from twisted.logger import Logger

log = Logger()

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
OWN_FRAMES = 3  # the innermost frames of dfs's own code named for a sample
PLACES = 3  # the places named for one stall, most seen first


def where(frame):
    """A sample's place: its innermost frame (wherever it is), then the innermost few of dfs's own, outwards."""
    names, own = [], 0
    while frame is not None and own < OWN_FRAMES:
        path = frame.f_code.co_filename
        mine = path.startswith(PACKAGE)
        if mine or not names:
            shown = path[len(PACKAGE):] if mine else os.path.basename(path)
            names.append(f"{frame.f_code.co_name} ({shown}:{frame.f_lineno})")
            own += mine
        frame = frame.f_back
    return " < ".join(names)


class StallTracer(service.Service):
    """Samples the reactor thread's stack while ``late()`` (seconds the lag probe is overdue) exceeds ``threshold``;
    ``log_stall`` runs on the reactor once the stall is over. Started on the reactor's thread, whose stack it
    samples."""

    def __init__(self, reactor, late, threshold):
        self.reactor = reactor
        self.late = late
        self.threshold = threshold
        self._stop = threading.Event()
        self._thread = None

    def startService(self):
        super().startService()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(threading.get_ident(),), name="dfs-stall-trace",
                                        daemon=True)
        self._thread.start()

    def stopService(self):
        super().stopService()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _watch(self, reactor_thread):
        cpu_clock = time.pthread_getcpuclockid(reactor_thread)
        places, longest, calm_cpu = Counter(), 0.0, time.clock_gettime(cpu_clock)
        while not self._stop.wait(self.threshold / 5):
            late = self.late()
            if late > self.threshold:
                frame = sys._current_frames().get(reactor_thread)
                places[where(frame)] += 1
                longest = max(longest, late)
                continue
            cpu = time.clock_gettime(cpu_clock)
            if places:  # since the last look before the stall: the stall's CPU and at most a fifth of the threshold
                self.reactor.callFromThread(log_stall, longest, cpu - calm_cpu, places)
                places, longest = Counter(), 0.0
            calm_cpu = cpu


def log_stall(seconds, cpu, places):
    seen = sum(places.values())
    log.warn("the reactor was held {ms:.0f} ms ({cpu_ms:.0f} ms of its CPU); its stack in {samples} samples: {places}",
             ms=seconds * 1000, cpu_ms=cpu * 1000, samples=seen,
             places="; ".join(f"{count}x {place}" for place, count in places.most_common(PLACES)))
