"""The background pass that drops history no read of the past can see any more (namespace.history): rows dead
before the retention window began that no snapshot holds. Their blocks then become GC's, after its usual checks."""

from twisted.application.internet import TimerService
from twisted.logger import Logger

from dfs.logs import background_failure

log = Logger()

TRIM_EVERY = 60.0  # seconds between two passes: history outlives its window by at most this


def history_trimmer(store, clock, interval=TRIM_EVERY, leadership=None):
    """A service trimming ``store``'s history every ``interval`` seconds (a failed pass is logged; the next runs),
    on the namenode that leads background work (``leadership``, a dfs.namenode.leader.Leadership; None: this one)."""

    def trim():
        if leadership is not None and leadership.epoch is None:
            return None
        d = store.trim_history()
        d.addCallback(lambda rows: rows and log.info("history trimmed: {rows} rows no read can see", rows=rows))
        d.addErrback(background_failure(log, "history trimming failed"))
        return d

    trimmer = TimerService(interval, trim)
    trimmer.clock = clock
    return trimmer
