"""Failure domains: a datanode's rack is a path such as ``/zone-a/rack-1`` that the placement rule spreads over."""

import re

from dfs.errors import BadRequest

DEFAULT_RACK = "/default-rack"  # HDFS's name for the rack of a node nobody placed
RACK = re.compile(r"\A(/[A-Za-z0-9._-]+)+\Z")
MAX_RACK_CHARS = 255


def check_rack(rack):
    """``rack`` if it is a rack path (one or more ``/name`` parts), else BadRequest."""
    if not isinstance(rack, str) or len(rack) > MAX_RACK_CHARS or not RACK.match(rack):
        raise BadRequest(f"a rack is a path like /zone-a/rack-1 of letters, digits, '.', '_' and '-', not {rack!r}")
    return rack
