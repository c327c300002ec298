"""The version of the namenode <-> datanode protocol, so that one release's namenodes and the next one's datanodes
work together during a rolling upgrade.

A datanode registers with the versions it speaks (``protocol``: its newest, ``protocol_oldest``: the oldest it still
speaks); the namenode answers with the version both will speak (``protocol``), the newest they share, or refuses a
datanode they share none with, naming both ranges. A message without the field is version 1 (the releases before it
was sent). Each release speaks its own version and the one before, so an upgrade may take namenodes and datanodes
in either order, one release at a time. A change of the protocol (a new kind of block report) raises CURRENT, and
its sender checks the version agreed before using it.
"""

from dfs.errors import BadRequest

FIELD, OLDEST_FIELD = "protocol", "protocol_oldest"
UNVERSIONED = 1  # what a message without the field speaks
CURRENT = 2  # A protocol change raises it, and is used only with a peer that agreed to it.
# 2: the version is sent; full block reports go in binary pieces (dfs.blockreports), removals with heartbeats.
REPORTS_IN_PIECES = 2
# The previous release's CURRENT, still spoken so that its nodes keep working during an upgrade: at each release,
# raise it to the CURRENT of the release before (not at each protocol change: several may come in one release).
OLDEST = UNVERSIONED


class ProtocolMismatch(BadRequest):
    """The peer speaks no protocol version this node speaks. Its own exception name in the 400 answer lets a datanode
    tell this refusal from any other (``refusal``)."""

    exception = "ProtocolMismatchException"


def offered():
    """The fields a datanode's registration carries."""
    return {FIELD: CURRENT, OLDEST_FIELD: OLDEST}


def _number(message, field, default):
    try:
        return int(message.get(field, default))
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"{field} must be a number, not {message.get(field)!r}") from None


def admit(node_id, registration):
    """The version to speak with the datanode ``node_id`` that registered with ``registration``; ProtocolMismatch
    when the two share none."""
    newest = _number(registration, FIELD, UNVERSIONED)
    oldest = _number(registration, OLDEST_FIELD, newest)
    spoken = min(newest, CURRENT)
    if spoken < max(oldest, OLDEST):
        relation = "newer than" if oldest > CURRENT else "older than"
        advice = "upgrade the namenodes" if oldest > CURRENT else "upgrade the datanode one release at a time"
        raise ProtocolMismatch(f"datanode {node_id} speaks protocol versions {oldest} to {newest}, {relation} this"
                               f" namenode's {OLDEST} to {CURRENT}: {advice}")
    return spoken


def agreed(namenode_url, answer):
    """The version a namenode's answer to a registration says both speak; ProtocolMismatch when this datanode does
    not speak it (a namenode too old for it)."""
    spoken = _number(answer, FIELD, UNVERSIONED)
    if not OLDEST <= spoken <= CURRENT:
        raise ProtocolMismatch(f"namenode {namenode_url} speaks protocol version {spoken}, not one of this"
                               f" datanode's {OLDEST} to {CURRENT}: upgrade the namenodes first")
    return spoken


def refusal(answer):
    """The ProtocolMismatch a namenode's error answer to a registration refuses this datanode with, or None when it
    refused for another reason."""
    remote = answer.get("RemoteException") if isinstance(answer, dict) else None
    if isinstance(remote, dict) and remote.get("exception") == ProtocolMismatch.exception:
        return ProtocolMismatch(str(remote.get("message")))
    return None
