"""The on-disk layout version of a datanode's data directories: ``layout.json`` in each, read before anything there
is touched, upgraded at start when older, and refused when newer than this code knows.

Layout 1 is every data directory written before the version was recorded (``blocks/<id[:2]>/<id>`` and
``<id>.crc``); layout 2 is the same files with ``layout.json``. Blocks of at most one chunk are stored without a
``.crc`` in layout 2 too: every release that reads ``.crc`` files rebuilds a missing one on first read (as for a
block from before them), so the previous release still reads such a directory and no new layout was needed. A later
layout that moves files, or that a previous release would misread, adds its step to ``STEPS``.
"""

import json
import os

from twisted.logger import Logger

from dfs.errors import IOFailure

log = Logger()

FILE = "layout.json"
CURRENT = 2
UNRECORDED = 1  # a directory holding a datanode's files but no layout.json
# version -> function(root) bringing a directory of the version before to this one, run in order at start.
STEPS = {}


class LayoutTooNew(IOFailure):
    """A data directory written by a newer dfs: the datanode does not start, so nothing it wrote is damaged."""


def found(root):
    """The layout version of the data directory ``root``: None for a new one (no datanode wrote there yet),
    UNRECORDED for one older than the version file; LayoutTooNew if newer than this code knows. Reads only."""
    try:
        with open(os.path.join(root, FILE)) as f:
            version = int(json.load(f)["layout"])
    except FileNotFoundError:
        return UNRECORDED if os.path.exists(os.path.join(root, "node.json")) else None
    except (ValueError, KeyError, TypeError) as e:
        raise OSError(f"{os.path.join(root, FILE)} is unreadable: {e!r}") from None
    if version > CURRENT:
        raise LayoutTooNew(f"data directory {root} has layout version {version}, newer than this dfs knows"
                           f" ({CURRENT}): run the dfs release that wrote it, or a newer one")
    return version


def upgrade(root, version):
    """Run the steps from ``version`` (None: a new directory, which needs none) to CURRENT on ``root``; the caller
    records CURRENT after, atomically, so a step cut short runs again at the next start."""
    if version is None:
        return
    for step in range(version + 1, CURRENT + 1):
        if step in STEPS:
            STEPS[step](root)
    log.info("data directory {root} upgraded from layout {old} to {new}", root=root, old=version, new=CURRENT)
