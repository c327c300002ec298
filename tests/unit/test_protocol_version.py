"""The namenode <-> datanode protocol's version: a namenode speaks with datanodes of its release and of the one
before or after (the newest version both speak), refuses one it shares no version with in a message naming both
ranges, and the datanode logs that refusal, and gives up on a namenode that keeps refusing it."""

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent

from dfs import protocol
from dfs.datanode.blockstore import BlockStore
from dfs.datanode.heartbeat import REFUSALS_TO_GIVE_UP, NamenodeLink
from dfs.peers import NamenodeClient

CURRENT, OLDEST = protocol.CURRENT, protocol.OLDEST


@pytest.mark.parametrize("registration, spoken", [
    ({}, 1),  # a datanode from before versions were sent
    ({"protocol": OLDEST}, OLDEST),
    ({"protocol": CURRENT, "protocol_oldest": OLDEST}, CURRENT),
    ({"protocol": CURRENT + 1, "protocol_oldest": CURRENT}, CURRENT),  # the next release's speaks this one's too
])
def test_the_namenode_speaks_the_newest_version_both_know(registration, spoken):
    assert protocol.admit("n1", registration) == spoken


def test_a_datanode_sharing_no_version_is_refused_with_both_ranges():
    with pytest.raises(protocol.ProtocolMismatch) as newer:
        protocol.admit("n1", {"protocol": CURRENT + 2, "protocol_oldest": CURRENT + 1})
    assert str(newer.value) == (f"datanode n1 speaks protocol versions {CURRENT + 1} to {CURRENT + 2}, newer than this"
                                f" namenode's {OLDEST} to {CURRENT}: upgrade the namenodes")
    with pytest.raises(protocol.ProtocolMismatch, match="older than this namenode's .* one release at a time"):
        protocol.admit("n1", {"protocol": OLDEST - 1})


def test_a_datanode_accepts_what_its_namenode_speaks_or_says_it_is_too_old(monkeypatch):
    assert protocol.agreed("http://nn", {"cluster_id": "c"}) == 1, "a namenode from before versions were sent"
    monkeypatch.setattr(protocol, "OLDEST", 2)
    with pytest.raises(protocol.ProtocolMismatch, match="namenode http://nn speaks protocol version 1, not one of"
                                                        " this datanode's 2 to"):
        protocol.agreed("http://nn", {"cluster_id": "c"})


class _Offering(NamenodeClient):
    """Registers with the protocol fields replaced by ``fields`` (a datanode of another release)."""

    fields = {}

    def register(self, body):
        body = {k: v for k, v in body.items() if k not in (protocol.FIELD, protocol.OLDEST_FIELD)}
        return super().register({**body, **self.fields})


def link_to(namenode_app, tmp_path, fields, give_up=lambda reason: None):
    store = BlockStore(str(tmp_path / "dn"))
    namenode = _Offering(StubTreq(namenode_app.resource()), "http://nn/")
    namenode.fields = fields
    link = NamenodeLink(namenode, store, store.identity(), Clock(), lambda fn, *args: defer.maybeDeferred(fn, *args),
                        give_up=give_up)
    link.url = link.public_url = "http://dn:8181"
    return link


@pytest_twisted.ensureDeferred
async def test_a_datanode_of_this_release_and_of_the_last_one_register(namenode_app, tmp_path):
    link = link_to(namenode_app, tmp_path, protocol.offered())
    await link.beat()
    assert link.registered and link.protocol == CURRENT
    assert namenode_app.registry.nodes[link.identity["id"]].describe(0)["protocol"] == CURRENT
    older = link_to(namenode_app, tmp_path / "old", {})
    await older.beat()
    assert older.registered and older.protocol == 1
    assert namenode_app.registry.nodes[older.identity["id"]].protocol == 1


@pytest_twisted.ensureDeferred
async def test_a_datanode_too_new_is_refused_and_logs_why(namenode_app, tmp_path):
    link = link_to(namenode_app, tmp_path, {"protocol": CURRENT + 2, "protocol_oldest": CURRENT + 1})
    with capturedLogs() as events:
        await link.beat()
    assert not link.registered and link.identity["id"] not in namenode_app.registry.nodes
    errors = [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]
    assert errors == [f"cannot register with namenode http://nn: datanode {link.identity['id']} speaks protocol"
                      f" versions {CURRENT + 1} to {CURRENT + 2}, newer than this namenode's {OLDEST} to {CURRENT}:"
                      " upgrade the namenodes"]


def test_a_refusal_for_the_protocol_is_told_from_any_other():
    refused = protocol.ProtocolMismatch("datanode n1 speaks protocol versions 3 to 4, ...")
    assert str(protocol.refusal(refused.to_json())) == str(refused)
    assert protocol.refusal({"RemoteException": {"exception": "IllegalArgumentException", "message": "bad"}}) is None
    assert protocol.refusal({"cluster_id": "c"}) is protocol.refusal([]) is None


@pytest_twisted.ensureDeferred
async def test_a_datanode_gives_up_on_a_namenode_refusing_its_protocol_that_many_times_in_a_row(namenode_app,
                                                                                                 tmp_path):
    reasons = []
    link = link_to(namenode_app, tmp_path, {"protocol": CURRENT + 2, "protocol_oldest": CURRENT + 1}, reasons.append)
    for _ in range(REFUSALS_TO_GIVE_UP - 1):  # a namenode being replaced may answer as another release a moment
        await link.beat()
    assert reasons == []
    link.namenode.fields = protocol.offered()  # it was: this registration resets the count
    await link.beat()
    assert link.registered
    link.registered = False
    link.namenode.fields = {"protocol": CURRENT + 2, "protocol_oldest": CURRENT + 1}
    for _ in range(REFUSALS_TO_GIVE_UP):
        await link.beat()
    assert reasons == [f"namenode http://nn shares no protocol version with this datanode ({REFUSALS_TO_GIVE_UP}"
                       f" registrations in a row): datanode {link.identity['id']} speaks protocol versions"
                       f" {CURRENT + 1} to {CURRENT + 2}, newer than this namenode's {OLDEST} to {CURRENT}: upgrade"
                       " the namenodes"]


@pytest_twisted.ensureDeferred
async def test_a_namenode_too_old_for_the_datanode_counts_as_a_refusal(namenode_app, tmp_path, monkeypatch):
    reasons = []
    link = link_to(namenode_app, tmp_path, protocol.offered(), reasons.append)
    # A namenode of the release before versions answers 1, which this datanode no longer speaks.
    monkeypatch.setattr(protocol, "admit", lambda node_id, registration: 1)
    monkeypatch.setattr(protocol, "OLDEST", 2)
    for _ in range(REFUSALS_TO_GIVE_UP):
        await link.beat()
    assert not link.registered
    assert reasons == [f"namenode http://nn shares no protocol version with this datanode ({REFUSALS_TO_GIVE_UP}"
                       f" registrations in a row): namenode http://nn speaks protocol version 1, not one of this"
                       f" datanode's 2 to {CURRENT}: upgrade the namenodes first"]
