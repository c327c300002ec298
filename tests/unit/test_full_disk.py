"""A datanode whose write hit ENOSPC offers no space, and offers it again as soon as some is freed."""

import io
import os

from dfs.datanode.blockstore import FREED_ENOUGH, BlockStore


def test_full_clears_when_space_is_freed_without_a_restart(tmp_path):
    size = 512 * 1024
    store = BlockStore(str(tmp_path / "dn"), capacity=8 * size)
    stored = store.commit_many_sync(io.BytesIO(os.urandom(7 * size)), [size] * 7)
    assert store.usage()["free"] == size
    store.mark_full()  # a write of a larger block hit ENOSPC
    assert store.usage()["free"] == 0, "no block is sent to a full node"
    store.delete_sync(stored[0][0])
    assert store.usage()["free"] == 0, "half a MiB freed is not yet enough to try again"
    store.delete_sync(stored[1][0])
    assert store.usage()["free"] == 3 * size >= FREED_ENOUGH, "freed space is offered at once"
    assert store.usage()["free"] == 3 * size
