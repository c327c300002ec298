"""SQL and helpers the relational namespace's modules share (``relational`` and the mixins it is made of)."""

import time

MAX_BATCH = 256  # ids in one statement's list
# An Inode's fields in order, so a row becomes ``Inode(*row)``.
INODE = "i.id, i.type, i.mode, i.owner, i.grp, i.mtime, i.atime, i.size, i.replication, i.block_size, i.nlink," \
        " i.target, i.rdev, i.acl, i.ctime"
# The inodes at or below the parameter. UNION visits each once: a hard-linked file counts once, a damaged loop ends.
SUBTREE = ("WITH RECURSIVE subtree(id) AS (SELECT CAST(? AS BIGINT) UNION SELECT d.inode FROM subtree AS s"
           " JOIN dirents AS d ON d.parent = s.id) ")


def now_ms():
    return int(time.time() * 1000)


def chunks(items):
    for start in range(0, len(items), MAX_BATCH):
        yield items[start:start + MAX_BATCH]
