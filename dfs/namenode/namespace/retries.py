"""The retry cache (HDFS's): a change a client numbered with an operation id is stored with its answer in the
change's own transaction, so the same request sent again, to this namenode or another, answers what the first
attempt did instead of failing ("exists", "not found") or making the change twice (docs/architecture.md,
"Exactly-once retries")."""

import dataclasses
import json
import re
from typing import NamedTuple

from dfs.errors import BadRequest
from dfs.namenode.namespace.model import Inode

# The WebHDFS parameters of dfs's extension (docs/webhdfs.md): a client id, random per client, and a call id that
# grows with each change the client asks for.
CLIENT_ID, CALL_ID = "clientid", "callid"
VALID_CLIENT_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")
FORGOTTEN = object()  # what ``recall`` gives for an operation it holds no answer to


class Operation(NamedTuple):
    """One change as its client numbered it."""

    client_id: str
    call_id: int

    @classmethod
    def of(cls, params):
        """The operation id a request's parameters (dfs.web.Params) carry, or None: a request without one is
        answered as before, with no retry cache."""
        client_id = params.str(CLIENT_ID)
        call_id = params.int(CALL_ID, minimum=0)
        if client_id is None and call_id is None:
            return None
        if client_id is None or call_id is None:
            raise BadRequest(f'The parameters "{CLIENT_ID}" and "{CALL_ID}" go together')
        if not VALID_CLIENT_ID.fullmatch(client_id):
            raise BadRequest(f'Invalid value for webhdfs parameter "{CLIENT_ID}": 8 to 64 letters, digits, - or _')
        return cls(client_id, call_id)


def recall(db, operation, op):
    """The answer stored for ``operation``, or FORGOTTEN; BadRequest when it was another WebHDFS op."""
    row = db.execute("SELECT op, answer FROM retries WHERE client_id = ? AND call_id = ?", operation).fetchone()
    if row is None:
        return FORGOTTEN
    if row[0] != op:
        raise BadRequest(f"the operation id {operation.client_id}/{operation.call_id} was a {row[0]}, not a {op}")
    return _decode(json.loads(row[1]))


def remember(db, operation, op, answer, now):
    db.execute("INSERT INTO retries (client_id, call_id, op, answer, made) VALUES (?, ?, ?, ?, ?)",
               (*operation, op, json.dumps(_encode(answer)), now))


def trim(db, before):
    """Drop the answers stored before ``before`` (seconds since the epoch); how many."""
    return db.execute("DELETE FROM retries WHERE made < ?", (before,)).rowcount


def _encode(answer):
    """A change's answer as JSON: an Inode, or a plain value (True, False, None, a path)."""
    if isinstance(answer, Inode):
        return {"inode": dataclasses.asdict(answer)}
    return {"value": answer}


def _decode(stored):
    if "inode" in stored:
        return Inode(**stored["inode"])
    return stored["value"]
