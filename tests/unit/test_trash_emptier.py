"""The trash emptier on a real (synchronous) store driven by a Clock: checkpoints, expiry, several users; and the
trash names every client and the emptier share."""

import calendar

import pytest
import pytest_twisted
from test_namenode_app import call
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.python import usage

from dfs import trash
from dfs.errors import FileNotFound
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.tap import NamenodeOptions
from dfs.namenode.trash import TrashEmptier

HOUR = 3600
# 2026-12-06 10:00:00 UTC, so checkpoint names are known in advance.
START = calendar.timegm((2026, 12, 6, 10, 0, 0))


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    clock.advance(START)
    store = SQLiteNamespace(str(tmp_path / "ns.sqlite"), clock=clock)
    store.start()
    yield store, clock
    store.stop()


async def _trash_file(store, user, original, data_name="f"):
    """What a client does for `dfs rm`: the file moved to Current under its original path."""
    await store.create(original, [], overwrite=False)
    target = trash.root_of(user) + "/" + trash.CURRENT + original
    await store.mkdirs(target.rsplit("/", 1)[0], trash.TRASH_MODE, user)
    assert await store.rename(original, target)
    return target


async def _names(store, path):
    _, entries = await store.listing(path)
    return sorted(e.name for e in entries)


@pytest_twisted.ensureDeferred
async def test_a_pass_makes_current_a_checkpoint_for_every_user(world):
    store, clock = world
    for user in ("alice", "bob"):
        await _trash_file(store, user, f"/data/{user}.txt")
    emptier = TrashEmptier(store, clock, interval=24 * HOUR, checkpoint_interval=HOUR)
    emptier.start()
    clock.advance(HOUR)
    for user in ("alice", "bob"):
        assert await _names(store, trash.root_of(user)) == ["261206110000"]
        await store.status(f"{trash.root_of(user)}/261206110000/data/{user}.txt")
    emptier.stop()


@pytest_twisted.ensureDeferred
async def test_passes_fall_on_multiples_of_the_interval_so_restarts_do_not_postpone_them(world):
    store, clock = world
    await _trash_file(store, "alice", "/x")
    emptier = TrashEmptier(store, clock, interval=24 * HOUR, checkpoint_interval=HOUR)
    clock.advance(HOUR / 2)
    emptier.start()
    clock.advance(HOUR / 4)
    emptier.stop()  # a restart at 10:45
    emptier.start()
    clock.advance(HOUR / 4)
    assert await _names(store, trash.root_of("alice")) == ["261206110000"]
    emptier.stop()
    assert not clock.getDelayedCalls()


@pytest_twisted.ensureDeferred
async def test_checkpoints_older_than_the_interval_go_and_newer_ones_stay(world):
    store, clock = world
    emptier = TrashEmptier(store, clock, interval=3 * HOUR, checkpoint_interval=HOUR)
    emptier.start()
    for hour in range(4):
        await _trash_file(store, "alice", f"/data/f{hour}")
        clock.advance(HOUR)
    # Made at 11:00, 12:00, 13:00 and 14:00; at 14:00 the 11:00 one is exactly 3 h old and stays (Hadoop: older
    # than the interval goes).
    assert await _names(store, trash.root_of("alice")) == ["261206110000", "261206120000", "261206130000",
                                                           "261206140000"]
    clock.advance(HOUR)
    assert await _names(store, trash.root_of("alice")) == ["261206120000", "261206130000", "261206140000"]
    with pytest.raises(FileNotFound):
        await store.status("/data/f0")
    emptier.stop()


@pytest_twisted.ensureDeferred
async def test_a_taken_checkpoint_name_gets_a_suffix_and_strangers_are_left_alone(world):
    store, clock = world
    root = trash.root_of("carol")
    await store.mkdirs(root + "/261206100000")
    await store.mkdirs(root + "/notes")
    await _trash_file(store, "carol", "/a")
    emptier = TrashEmptier(store, clock, interval=HOUR)
    assert await emptier.checkpoint(root) == root + "/261206100000-1"
    assert await emptier.checkpoint(root) is None  # no Current any more
    clock.advance(2 * HOUR)
    assert sorted(await emptier.expire(root)) == [root + "/261206100000", root + "/261206100000-1"]
    assert await _names(store, root) == ["notes"]


@pytest_twisted.ensureDeferred
async def test_expunge_immediate_empties_and_roots_are_listed(world):
    store, clock = world
    await _trash_file(store, "alice", "/x")
    await _trash_file(store, "bob", "/y")
    await store.mkdirs("/user/dave")  # a home without trash is no trash root
    emptier = TrashEmptier(store, clock, interval=HOUR)
    assert [root for root, _ in await emptier.roots()] == ["/user/alice/.Trash", "/user/bob/.Trash"]
    assert [root for root, _ in await emptier.roots("bob")] == ["/user/bob/.Trash"]
    assert await emptier.roots("dave") == []
    await emptier.expunge("/user/alice/.Trash", immediate=True)
    assert await _names(store, "/user/alice/.Trash") == []
    await emptier.expunge("/user/bob/.Trash")
    assert await _names(store, "/user/bob/.Trash") == ["261206100000"]


@pytest_twisted.ensureDeferred
async def test_trash_off_runs_nothing(world):
    store, clock = world
    await _trash_file(store, "alice", "/x")
    emptier = TrashEmptier(store, clock, interval=0)
    emptier.start()
    clock.advance(10 * HOUR)
    assert await _names(store, "/user/alice/.Trash") == ["Current"]
    assert not clock.getDelayedCalls()


def test_names():
    assert trash.checkpoint_name(START) == "261206100000"
    assert trash.checkpoint_time("261206100000-3") == START
    assert trash.checkpoint_time("Current") is None and trash.checkpoint_time("269999999999") is None
    assert trash.is_in_trash("/user/a/.Trash") and trash.is_in_trash("/user/a/.Trash/Current/x")
    assert not trash.is_in_trash("/user/a/Trash") and not trash.is_in_trash("/data/.Trash")
    assert trash.original_path("/user/a/.Trash/Current/d/f.txt") == ("/d/f.txt", "Current")
    assert trash.original_path("/user/a/.Trash/261206100000/d/f.txt1733500000000") == ("/d/f.txt", "261206100000")
    with pytest.raises(ValueError):
        trash.original_path("/user/a/.Trash/Current")


@pytest_twisted.ensureDeferred
async def test_trash_roots_and_expunge_over_webhdfs(namenode_app):
    http = StubTreq(namenode_app.resource())
    for user in ("alice", "bob"):
        await call(http, "PUT", f"/user/{user}/.Trash/Current/x", op="MKDIRS", **{"user.name": user})
    code, body = await call(http, "GET", "/", op="GETTRASHROOTS", **{"user.name": "alice"})
    assert code == 200 and [(p["path"], p["owner"], p["isdir"]) for p in body["Paths"]] == [
        ("/user/alice/.Trash", "alice", True)]
    code, body = await call(http, "GET", "/", op="GETTRASHROOTS", allusers="true")
    assert [p["path"] for p in body["Paths"]] == ["/user/alice/.Trash", "/user/bob/.Trash"]
    assert await call(http, "POST", "/", op="EXPUNGE", **{"user.name": "alice"}) == (200, {"boolean": True})
    _, body = await call(http, "GET", "/user/alice/.Trash", op="LISTSTATUS")
    assert [e["pathSuffix"] for e in body["FileStatuses"]["FileStatus"]] == [trash.checkpoint_name(0)]
    await call(http, "POST", "/", op="EXPUNGE", immediate="true", **{"user.name": "alice"})
    _, body = await call(http, "GET", "/user/alice/.Trash", op="LISTSTATUS")
    assert body["FileStatuses"]["FileStatus"] == []
    _, body = await call(http, "GET", "/user/bob/.Trash", op="LISTSTATUS")
    assert [e["pathSuffix"] for e in body["FileStatuses"]["FileStatus"]] == ["Current"]


def test_a_negative_interval_is_a_usage_error():
    for option in ("--trash-interval", "--trash-checkpoint-interval"):
        with pytest.raises(usage.UsageError, match=f"{option} is minutes, 0 or more, not -1"):
            NamenodeOptions().parseOptions([option, "-1"])
    options = NamenodeOptions()
    options.parseOptions(["--trash-interval", "0.5"])
    assert (options["trash-interval"], options["trash-checkpoint-interval"]) == (0.5, 0)


@pytest_twisted.ensureDeferred
async def test_an_expunge_is_not_answered_from_the_retry_cache(namenode_app):
    """EXPUNGE renames and deletes in several transactions: a client operation id would make the second one answer
    the first's answer (or refuse it as another op); it is ignored, and each expunge does its work."""
    http = StubTreq(namenode_app.resource())
    ids = {"user.name": "alice", "clientid": "client-1", "callid": "1"}
    for _ in range(2):
        await call(http, "PUT", "/user/alice/.Trash/Current/x", op="MKDIRS", **{"user.name": "alice"})
        assert await call(http, "POST", "/", op="EXPUNGE", immediate="true", **ids) == (200, {"boolean": True})
        _, body = await call(http, "GET", "/user/alice/.Trash", op="LISTSTATUS")
        assert body["FileStatuses"]["FileStatus"] == []
