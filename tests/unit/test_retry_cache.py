"""The retry cache on both backends: a change sent again with the same client operation id answers what its first
attempt did, without making the change twice; other changes, and changes without an id, behave as before."""

import threading
import time

import pytest

from dfs.errors import AlreadyExists, BadRequest
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.retries import FORGOTTEN, Operation
from dfs.namenode.permissions import Caller, Checker
from dfs.web import Params
from test_metadata import A, B, result


def _request(call_id, client_id="client-1"):
    """The checker of one request from a superuser naming the operation (client_id, call_id)."""
    return Checker(Caller("dfs", superuser=True), operation=Operation(client_id, call_id))


def _file(store, path, size=10, block=A, checker=None):
    return result(store.create(path, [Extent(block, 0, size, size)], overwrite=False, checker=checker))


def test_a_rename_sent_again_answers_true_and_moves_once(namespace):
    _file(namespace, "/a")
    assert result(namespace.rename("/a", "/b", checker=_request(1))) is True
    _file(namespace, "/a")  # someone else's new /a: the retry must not move it
    assert result(namespace.rename("/a", "/b", checker=_request(1))) is True
    assert result(namespace.stat("/a"))[0].size == 10
    assert result(namespace.rename("/a", "/b")) is False  # without an id: what HDFS answers to a second rename


def test_a_delete_sent_again_answers_true(namespace):
    _file(namespace, "/f")
    assert result(namespace.delete("/f", False, checker=_request(7))) is True
    assert result(namespace.delete("/f", False, checker=_request(7))) is True
    assert result(namespace.delete("/f", False, checker=_request(8))) is False


def test_a_create_without_overwrite_sent_again_succeeds_without_a_second_version(namespace):
    first = _file(namespace, "/f", checker=_request(1))
    assert result(namespace.recall("CREATE", _request(1))) == first  # what an upload sent again is answered
    again = _file(namespace, "/f", checker=_request(1))
    assert again == first
    assert result(namespace.stat("/f"))[0] == first  # not replaced: same inode, same times
    assert result(namespace.recall("CREATE", _request(2))) is FORGOTTEN
    with pytest.raises(AlreadyExists):
        _file(namespace, "/f", checker=_request(2))


def test_an_append_concat_and_truncate_sent_again_are_made_once(namespace):
    _file(namespace, "/f")
    tail = [Extent(B, 0, 5, 5)]
    for _ in range(2):
        assert result(namespace.append("/f", tail, checker=_request(1))).size == 15
    _file(namespace, "/g", 3, B)
    for _ in range(2):
        result(namespace.concat("/f", ["/g"], checker=_request(2)))
    assert result(namespace.stat("/f"))[0].size == 18
    result(namespace.truncate("/f", 4, checker=_request(3)))
    result(namespace.append("/f", tail))
    assert result(namespace.truncate("/f", 4, checker=_request(3))) is True  # answered, not cut again
    assert result(namespace.stat("/f"))[0].size == 9


def test_snapshots_and_directories_sent_again(namespace):
    result(namespace.mkdirs("/d"))
    result(namespace.allow_snapshot("/d"))
    for _ in range(2):
        assert result(namespace.create_snapshot("/d", "s1", checker=_request(1))) == "/d/.snapshot/s1"
        result(namespace.delete_snapshot("/d", "s1", checker=_request(2)))
        assert result(namespace.mkdirs("/d/e", checker=_request(3))).type == "DIRECTORY"
        result(namespace.symlink("/d", "/link", checker=_request(4)))


def test_ids_belong_to_their_client_and_their_operation(namespace):
    _file(namespace, "/f")
    result(namespace.delete("/f", False, checker=_request(1, "client-1")))
    _file(namespace, "/f")
    assert result(namespace.delete("/f", False, checker=_request(1, "client-2"))) is True  # another client's call 1
    with pytest.raises(BadRequest, match="was a DELETE, not a RENAME"):
        result(namespace.rename("/f", "/g", checker=_request(1, "client-1")))


def test_a_failed_change_is_not_remembered(namespace):
    result(namespace.mkdirs("/x"))
    with pytest.raises(AlreadyExists):
        result(namespace.symlink("/t", "/x", checker=_request(1)))
    result(namespace.delete("/x", False))
    assert result(namespace.symlink("/t", "/x", checker=_request(1))).target == "/t"  # made by the retry


def test_trimming_drops_the_answers_older_than_the_expiry(namespace):
    _file(namespace, "/a")
    result(namespace.rename("/a", "/b", checker=_request(1)))
    assert result(namespace.trim_retries(namespace.now() - 60)) == 0
    assert result(namespace.trim_retries(namespace.now() + 1)) == 1
    _file(namespace, "/a")
    assert result(namespace.rename("/a", "/b", checker=_request(1))) is False  # forgotten: made (and refused) anew


@pytest.mark.parametrize("query, error", [({"clientid": "client-1"}, "go together"),
                                          ({"clientid": "a b c d e f g h", "callid": "1"}, "letters"),
                                          ({"clientid": "client-1", "callid": "-1"}, "out of range")])
def test_an_operation_id_is_checked(query, error):
    with pytest.raises(BadRequest, match=error):
        Operation.of(Params.from_args({k.encode(): [v.encode()] for k, v in query.items()}))
    assert Operation.of(Params.from_args({})) is None


def test_two_namenodes_making_the_same_operation_at_once_make_it_once(postgres_url):
    """Another namenode's attempt has inserted the operation's answer but not committed: this one's transaction
    waits on the key, fails when the other commits, and its retry answers from the cache, renaming nothing."""
    import psycopg

    store = open_namespace(postgres_url)
    store.start()
    try:
        _file(store, "/c")
        with psycopg.connect(postgres_url) as other:
            other.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
            # As a namenode's attempt does: look the operation up, then make the change and store its answer.
            assert other.execute("SELECT 1 FROM retries WHERE client_id = 'client-1' AND call_id = 5").fetchall() == []
            other.execute("INSERT INTO retries VALUES ('client-1', 5, 'RENAME', '{\"value\": true}', 0)")
            answers = []
            racing = threading.Thread(target=lambda: store.rename("/c", "/d", checker=_request(5)).addBoth(
                answers.append))
            racing.start()
            deadline = time.monotonic() + 30
            while not other.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone():
                assert time.monotonic() < deadline, "the second attempt never waited for the first"
                time.sleep(0.05)
            assert answers == []
            other.commit()
            racing.join(30)
        assert answers == [True]
        assert result(store.stat("/c"))[0].size == 10  # the first attempt (as stored) answered; nothing moved
    finally:
        store.stop()
