"""The namenode's history settings and its trimming service, on a fake clock."""

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from dfs import moments
from dfs.errors import BadRequest
from dfs.namenode.trimming import history_trimmer, retry_cache_trimmer
from dfs.options import duration_value


class _Store:
    def __init__(self):
        self.calls = 0

    def trim_history(self):
        self.calls += 1
        return defer.fail(RuntimeError("database away")) if self.calls == 2 else defer.succeed(3)


def test_the_trimmer_runs_every_interval_and_survives_a_failed_pass():
    store, clock = _Store(), Clock()
    trimmer = history_trimmer(store, clock, interval=60)
    trimmer.startService()
    try:
        for _ in range(3):
            clock.advance(60)
        assert store.calls == 4  # at start, then every 60 s; the failed second pass did not stop the loop
    finally:
        trimmer.stopService()


@pytest.mark.parametrize("text, seconds", [("24h", 86400), ("90m", 5400), ("7d", 604800), ("30s", 30), ("1.5", 5400),
                                           ("0", 0)])
def test_history_retention_values(text, seconds):
    assert duration_value(text) == seconds


@pytest.mark.parametrize("text, ms", [("1796600000000", 1796600000000), ("10 minutes ago", 999_400_000),
                                      ("2 hours ago", 992_800_000), ("2026-12-06T23:10:00Z", 1796598600000),
                                      ("2026-12-06T23:10:00", 1796598600000),
                                      ("2026-12-07T00:10:00+01:00", 1796598600000)])
def test_moments(text, ms):
    assert moments.parse(text, now=1_000_000.0) == ms


def test_a_moment_that_is_not_one():
    with pytest.raises(BadRequest, match="Not a time"):
        moments.parse("yesterday-ish", now=0)


class _Leadership:
    epoch = None


def test_the_leader_trims_the_retry_cache_past_its_expiry():
    asked, clock = [], Clock()
    store = type("Store", (), {"trim_retries": lambda self, before: asked.append(before) or defer.succeed(0)})()
    clock.advance(10_000)
    trimmer = retry_cache_trimmer(store, clock, expiry=600, interval=60)
    trimmer.startService()
    follower = retry_cache_trimmer(store, clock, expiry=600, interval=60, leadership=_Leadership())
    follower.startService()
    try:
        clock.advance(60)
        assert asked == [9_400, 9_460]  # answers older than 10 minutes, every pass; none on a follower
    finally:
        trimmer.stopService()
        follower.stopService()
