"""The background passes that drop what no one needs any more, on the namenode that leads background work: history
no read of the past can see (namespace.history: rows dead before the retention window began that no snapshot
holds; their blocks then become GC's, after its usual checks), and the retry cache's expired answers."""

from twisted.application.internet import TimerService
from twisted.logger import Logger

from dfs.logs import background_failure

log = Logger()

TRIM_EVERY = 60.0  # seconds between two passes: history outlives its window by at most this
RETRY_CACHE_EXPIRY = 600.0  # seconds an answer stays in the retry cache (--retry-cache-expiry), HDFS's 10 minutes


def history_trimmer(store, clock, interval=TRIM_EVERY, leadership=None):
    """A service trimming ``store``'s history every ``interval`` seconds (a failed pass is logged; the next runs),
    on the namenode that leads background work (``leadership``, a dfs.namenode.leader.Leadership; None: this one)."""
    return _leaders_pass(store.trim_history, "history trimmed: {rows} rows no read can see", "history trimming",
                         clock, interval, leadership)


def retry_cache_trimmer(store, clock, expiry=RETRY_CACHE_EXPIRY, interval=TRIM_EVERY, leadership=None):
    """A service dropping the retry cache's answers older than ``expiry`` seconds, as ``history_trimmer`` runs."""
    return _leaders_pass(lambda: store.trim_retries(clock.seconds() - expiry),
                         "retry cache trimmed: {rows} answers older than its expiry", "retry cache trimming", clock,
                         interval, leadership)


def _leaders_pass(trim, done, what, clock, interval, leadership):
    def run():
        if leadership is not None and leadership.epoch is None:
            return None
        d = trim()
        d.addCallback(lambda rows: rows and log.info(done, rows=rows))
        d.addErrback(background_failure(log, what + " failed"))
        return d

    trimmer = TimerService(interval, run)
    trimmer.clock = clock
    return trimmer
