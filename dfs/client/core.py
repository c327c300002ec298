"""The async dfs client: every operation over the namenode's WebHDFS API, reads straight from datanodes.

Reads fetch just the chunks of a block they need from a datanode, check each against the block's chunk
checksums before handing any of it over, and go on from the next replica on any error, so a client never hands
out bytes that differ from what was written.
"""

import base64
import itertools
import json
import os
import tempfile
import time
import uuid
from collections import OrderedDict

from twisted.internet import defer
from twisted.internet.error import ConnectError, ConnectionRefusedError, DNSLookupError
from twisted.internet.task import deferLater
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import UNKNOWN_LENGTH

from dfs import chunks, filebatch, paths, trash
from dfs import extents as file_extents
from dfs.client.acting import doas_params
from dfs.client.config import DEFAULT_NAMENODE, DEFAULT_UMASK
from dfs.client.retry import Backoff
from dfs.errors import (AlreadyExists, BadRequest, CannotMove, Corrupt, DFSError, FileNotFound, IOFailure,
                        IsADirectory, NotADirectory, OutcomeUnknown, PermissionDenied, Unavailable, from_remote)
from dfs.http import FILE_STATUS_HEADER
from dfs.http import UNREACHABLE as _UNREACHABLE
from dfs.http import ReadTimeout
from dfs.peers import DatanodeClient, cluster_url, webhdfs_url
from dfs.streams import relay_body

# Requests that may be sent again after a back-pressure refusal (besides changes the retry cache answers): the
# idempotent methods.
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE"}
# Changes made in several transactions, which the namenode's retry cache does not answer: one whose outcome is
# unknown raises OutcomeUnknown. Every other change carries a client operation id and is sent again with it.
_NOT_REMEMBERED = {"EXPUNGE"}
# Changes whose body carries an operation id for each change in it (dfs.filebatch), and the request none.
_IDS_INSIDE = {"CREATEBATCH"}
# Connection failures that prove the request never reached a namenode.
_NOT_SENT = (ConnectError, DNSLookupError)
# Names tried for a path moved to trash when the one it had is taken there (bounded, as every loop).
MAX_TRASH_NAMES = 100
# /user/<user>/.Trash/<Current or checkpoint>: what lies deeper was removed from somewhere.
TRASH_CHECKPOINT_DEPTH = 4
# Replicas whose chunk checksums a client keeps (4 KiB for a 64 MiB block; a block never changes): a small read of
# a block read before is then one request, not two.
SUMS_KEPT = 256


def _join(parent, name):
    return parent.rstrip("/") + "/" + name


class _Progress:
    """Counts bytes read from a local file object for a progress callback. It offers no seek/tell, so
    FileBodyProducer takes the length it is given (or sends a pipe chunked) instead of probing the file."""

    def __init__(self, fileobj, progress):
        self._f = fileobj
        self._progress = progress
        self.done = 0
        self.start = _tell(fileobj)  # None for a pipe: it cannot be read again

    def rewind(self):
        """Back to where the upload started, for sending it again; False when that is impossible."""
        if self.done and self.start is None:
            return False
        if self.done:
            self._f.seek(self.start)
            self.done = 0
        return True

    def read(self, n=-1):
        data = self._f.read(n)
        self.done += len(data)
        if self._progress:
            self._progress(self.done)
        return data

    def close(self):
        pass


class Client:
    """The dfs API for Twisted programs: talks to a namenode through an injected ``treq.HTTPClient``.

    ``namenode_url`` is one namenode or several (a list, or comma-separated): when the one in use cannot be reached
    or answers 503, a request moves to the next (see ``_request``).

    Every public method returns a Deferred. Paths are absolute dfs paths. Failures are ``dfs.errors.DFSError``
    subclasses that name the path passed in: ``FileNotFound``, ``FileExists``, ``NotADirectory``, ``IsADirectory``,
    ``DirectoryNotEmpty``, ``PermissionDenied``, ``Unauthorized``, ``Unavailable`` (cluster unreachable, safe mode,
    too few datanodes), ``NoSpace``, ``Corrupt``. Writes never replace an existing file unless ``overwrite=True``.
    ``BlockingClient`` offers the same methods to plain threads.
    """

    def __init__(self, http, namenode_url=DEFAULT_NAMENODE, token=None, user=None, reactor=None, backoff=None,
                 umask=DEFAULT_UMASK):
        self.http = http
        self.datanodes = DatanodeClient(http, self._headers)
        self.umask = umask
        urls = namenode_url.split(",") if isinstance(namenode_url, str) else namenode_url
        self.namenode_urls = [url.strip().rstrip("/") for url in urls]
        self.namenode_url = self.namenode_urls[0]  # the one in use
        self.token = token
        self.user = user
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.backoff = backoff or Backoff()
        # The client operation ids of its changes (dfs's WebHDFS extension, docs/webhdfs.md): the namenodes'
        # retry cache answers a change sent again with its id instead of making it twice.
        self.client_id = uuid.uuid4().hex
        self._call_ids = itertools.count()
        # Once a namenode has answered, one that is not there is restarting: waited for, not a wrong address.
        self._reached = False
        self._sums = OrderedDict()  # (datanode URL, block id) -> that replica's chunk checksums, SUMS_KEPT at most

    # -- plumbing -----------------------------------------------------------------------------

    def _headers(self):
        headers = {"Content-Type": "application/octet-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _url(self, path):
        return webhdfs_url(self.namenode_url, path)

    def _operation_id(self):
        """The parameters naming a new change of this client (the retry cache's key)."""
        return {"clientid": self.client_id, "callid": str(next(self._call_ids))}

    def _cluster_url(self, *parts):
        return cluster_url(self.namenode_url, *parts)

    async def _call(self, method, path, op, body=None, unbuffered=False, **params):
        query = {"op": op}
        if self.user:
            query["user.name"] = self.user
        query.update(doas_params())
        query.update(_query(params))
        remembered = method not in ("GET", "HEAD") and op not in _NOT_REMEMBERED
        if remembered and op not in _IDS_INSIDE:
            query.update(self._operation_id())
        return await self._request(method, self._url(path), params=query, body=body, unbuffered=unbuffered,
                                   retry=method in _IDEMPOTENT or remembered, path=path, repeatable=remembered,
                                   what=op)

    async def _request(self, method, url, params=None, body=None, unbuffered=False, retry=False,
                       allow_redirects=False, path=None, repeatable=False, what=None):
        """Every request to a namenode (or a URL it redirected to) goes through here: the token, back-pressure
        answers sent again after a wait (``retry``; ``self.backoff`` says how long and how often), failing over to
        the next namenode, and errors as DFSErrors naming the peer. Waits are bounded by the HTTP client's connect
        and read timeouts (dfs.http).

        A namenode that cannot be reached, or answers 503 to a request that may be retried, is left for the next
        one at once; only when every namenode failed does the request wait (the back-pressure rule) or fail. With
        one namenode URL (a routing mesh in front of replicas) that is the same one again: once a namenode has
        answered this client, one that refuses the connection or drops it is taken to be restarting and waited for;
        a timeout (a frozen namenode, already waited for) or a namenode never reached (a wrong address) fails. A
        request that may have reached a namenode that then went away is sent to the next one only if it reads, or
        is ``repeatable`` (a change with a client operation id: the retry cache answers it if it was made);
        otherwise it raises OutcomeUnknown.

        ``path`` is the dfs path the caller passed, named by the error; ``what`` names the request in it. ``body``
        is bytes, or an ``_Upload`` (sent again only if its source can be read again)."""
        attempt = 0
        failed = set()  # namenodes that failed this request since its last wait
        repeatable = repeatable or method in ("GET", "HEAD")
        while True:
            # The namenode this URL goes to (another request may have moved the client on since it was made).
            namenode = next((n for n in self.namenode_urls if url.startswith(n + "/")), None)
            data = body.producer() if isinstance(body, _Upload) else body
            try:
                response = await self.http.request(method, url, params=params, data=data, headers=self._headers(),
                                                   allow_redirects=allow_redirects, unbuffered=unbuffered)
            except _UNREACHABLE as e:
                if namenode is None:
                    raise Unavailable(f"cannot reach {url}: {_reason(e)}") from None
                failed.add(namenode)
                following = self._fail_over(namenode, failed)  # also for what the caller does next
                unknown = None
                if not (isinstance(e, _NOT_SENT) or repeatable):
                    unknown = "it may or may not have been done"
                elif isinstance(body, _Upload) and not body.rewind():
                    unknown = "its bytes (read from a stream) cannot be sent again"
                if unknown:
                    raise OutcomeUnknown(f"the namenode at {namenode} went away during {what or method} {path or url}: "
                                         f"{_reason(e)}; {unknown}", path) from None
                if following is not None:
                    url = following + url[len(namenode):]
                    continue
                wait = self.backoff.delay(attempt, None, self.reactor.seconds()) if self._reached and _gone(e) else None
                if wait is None:
                    unreachable = ", ".join(self.namenode_urls)
                    raise Unavailable(f"cannot reach the namenode at {unreachable}: {_reason(e)}") from None
                attempt += 1
                failed.clear()
                await deferLater(self.reactor, wait)
                continue
            self._reached = self._reached or namenode is not None
            if response.code < 400:
                return response
            if response.code == 503 and retry and namenode is not None:
                failed.add(namenode)
                following = self._fail_over(namenode, failed)
                if following is not None and not (isinstance(body, _Upload) and not body.rewind()):
                    await response.content()
                    url = following + url[len(namenode):]
                    continue
            wait = self.backoff.delay(attempt, response, self.reactor.seconds()) if retry else None
            if wait is None or isinstance(body, _Upload) and not body.rewind():
                raise await _error(response, path)
            await response.content()
            attempt += 1
            failed.clear()
            await deferLater(self.reactor, wait)

    def _fail_over(self, namenode, failed):
        """Use the namenode after ``namenode`` in the list that has not ``failed``; its URL, or None when none is
        left. Requests under way elsewhere keep theirs; the next ones start from the new one."""
        start = self.namenode_urls.index(namenode)
        for step in range(1, len(self.namenode_urls)):
            following = self.namenode_urls[(start + step) % len(self.namenode_urls)]
            if following not in failed:
                self.namenode_url = following
                return following
        return None

    async def _json(self, method, path, op, **params):
        response = await self._call(method, path, op, **params)
        return await response.json()

    async def _get_json(self, url, params=None):
        response = await self._request("GET", url, params=params, retry=True, allow_redirects=True)
        return await response.json()

    # -- metadata ------------------------------------------------------------------------------

    def stat(self, path, at=None):
        """The WebHDFS FileStatus of ``path`` (a dict: type, length, modificationTime, permission...); ``at``: as it
        was then (milliseconds since the epoch, ISO 8601 or "10 minutes ago": dfs.moments), inside the namenode's
        --history-retention."""
        return defer.ensureDeferred(self._stat(path, at))

    async def _stat(self, path, at=None):
        return (await self._json("GET", path, "GETFILESTATUS", at=at))["FileStatus"]

    def exists(self, path):
        """True when something (a file or a directory) is at ``path``."""
        async def check():
            try:
                await self._stat(path)
                return True
            except FileNotFound:
                return False
        return defer.ensureDeferred(check())

    def ls(self, path, at=None):
        """FileStatus dicts of a directory's entries (``pathSuffix`` is the name); a file lists as itself. ``at``:
        as it was then (see ``stat``)."""
        async def ls():
            return (await self._json("GET", path, "LISTSTATUS", at=at))["FileStatuses"]["FileStatus"]
        return defer.ensureDeferred(ls())

    def walk(self, path, at=None):
        """[(directory, [subdirectory names], [file statuses])] for ``path`` and everything below, top-down (``at``:
        as it was then)."""
        async def walk():
            out, todo = [], [path]
            while todo:
                directory = todo.pop(0)
                entries = (await self._json("GET", directory, "LISTSTATUS", at=at))["FileStatuses"]["FileStatus"]
                dirs = [e["pathSuffix"] for e in entries if e["type"] == "DIRECTORY"]
                files = [e for e in entries if e["type"] != "DIRECTORY"]
                out.append((directory, dirs, files))
                todo.extend(_join(directory, d) for d in dirs)
            return out
        return defer.ensureDeferred(walk())

    def du(self, path):
        """The ContentSummary of ``path``: length, fileCount, directoryCount, spaceConsumed."""
        async def du():
            return (await self._json("GET", path, "GETCONTENTSUMMARY"))["ContentSummary"]
        return defer.ensureDeferred(du())

    def checksum(self, path):
        """The file's SHA-256 as computed by a datanode (equals ``sha256sum`` of a local copy): dfs's extension of
        GETFILECHECKSUM, whose answer without ``algorithm`` is Hadoop's MD5-of-MD5-of-CRC32C."""
        async def checksum():
            response = await self._call("GET", path, "GETFILECHECKSUM", algorithm="SHA-256")
            if response.code == 307:
                location = response.headers.getRawHeaders("location")[0]
                return (await self._get_json(location))["FileChecksum"]
            return (await response.json())["FileChecksum"]
        return defer.ensureDeferred(checksum())

    def block_locations(self, path, offset=0, length=None, at=None):
        """The WebHDFS BlockLocations of a file's range: each block's id, offset, length and replica URLs (``at``:
        of the file as it was then)."""
        async def locations():
            answer = await self._json("GET", path, "GETFILEBLOCKLOCATIONS", offset=offset, length=length, at=at)
            return answer["BlockLocations"]
        return defer.ensureDeferred(locations())

    def status(self):
        """The cluster: datanodes with state, capacity, used, free and blocks; totals."""
        return defer.ensureDeferred(self._get_json(self._cluster_url()))

    def fsck(self, path="/"):
        """The namenode's check of every block under ``path``: replicas and state per file and block, totals."""
        return defer.ensureDeferred(self._get_json(self._cluster_url("fsck"), params={"path": path}))

    def decommission(self, node_id, cancel=False):
        """Drain a datanode (or, with ``cancel``, put it back in service); its description from the namenode."""
        async def decommission():
            response = await self._request("POST", self._cluster_url("datanodes", node_id, "decommission"),
                                           params={"cancel": "true" if cancel else "false"})
            return await response.json()
        return defer.ensureDeferred(decommission())

    def maintenance(self, node_id, seconds=None):
        """Put a datanode in maintenance for ``seconds`` (None: end its maintenance now); its description from the
        namenode."""
        async def maintenance():
            params = {"end": "true"} if seconds is None else {"for": str(int(seconds))}
            response = await self._request("POST", self._cluster_url("datanodes", node_id, "maintenance"),
                                           params=params)
            return await response.json()
        return defer.ensureDeferred(maintenance())

    def safemode(self, action=None):
        """The namenode's safe mode (on, held, reason, blocks reported, datanodes waited for); ``action`` "enter"
        holds it, "leave" ends it."""
        url = self._cluster_url("safemode")
        if action is None:
            return defer.ensureDeferred(self._get_json(url))

        async def act():
            return await (await self._request("POST", url, params={"action": action})).json()
        return defer.ensureDeferred(act())

    def balance(self, threshold=None, bandwidth=None, stop=False):
        """Have the leading namenode move replicas until every datanode's utilization is within ``threshold``
        points of the mean, at most ``bandwidth`` MB/s (the run under way is kept), or ``stop`` it after its
        current move. The run's description: state, moves done and left, bytes moved, each node's utilization."""
        params = {"action": "stop"} if stop else {k: v for k, v in (("threshold", threshold),
                                                                     ("bandwidth", bandwidth)) if v is not None}

        async def balance():
            # Starting twice keeps one run: a namenode that does not lead (503) passes it to the next.
            response = await self._request("POST", self._cluster_url("balance"), params=params, retry=True)
            return await response.json()
        return defer.ensureDeferred(balance())

    def balance_progress(self):
        """The description of the namenode's latest balancer run (``balance`` says what it holds)."""
        return defer.ensureDeferred(self._get_json(self._cluster_url("balance")))

    def format(self):
        """Wipe every file and block (the original DFS's mkfs)."""
        async def format_():
            await self._request("POST", self._cluster_url("format"), params={"confirm": "true"})
            return True
        return defer.ensureDeferred(format_())

    def backup(self):
        """Have the namenode take a backup of its namespace now, into its --backup-dir (the superuser's).
        {"name", "at", "bytes", "seconds"}: the backup's file name, when it began (seconds since the epoch), its
        size and how long it took."""
        async def backup():
            response = await self._request("POST", self._cluster_url("backup"))
            return await response.json()
        return defer.ensureDeferred(backup())

    def purge_history(self, before):
        """Drop the namespace's history before ``before`` (ms, ISO 8601 or "2 hours ago") at once: reads of the past
        before it are refused from then on and GC may take what only it held; snapshots keep theirs. {"rows",
        "before"}: the rows dropped and the moment in ms."""
        async def purge():
            response = await self._request("POST", self._cluster_url("history", "purge"),
                                           params={"before": before, "confirm": "true"})
            return await response.json()
        return defer.ensureDeferred(purge())

    def _masked(self, permission, default):
        """The mode a new entry asks for, as Hadoop's client sends it: the one given (else ``default``) less the
        umask. The namenode stores what it is sent (WebHDFS applies no umask)."""
        mode = default if permission is None else int(_octal(permission), 8)
        return _octal(mode & ~self.umask & 0o7777)

    # -- namespace changes ---------------------------------------------------------------------

    def mkdir(self, path, parents=True, permission=None):
        """Create a directory; without ``parents`` the parent must exist and the path must be free. ``permission``
        (default 0o777) loses the bits of the client's umask (022: 0o755), as with Hadoop's client."""
        async def mkdir():
            if not parents:
                parent = path.rsplit("/", 1)[0] or "/"
                if (await self._stat(parent))["type"] != "DIRECTORY":
                    raise NotADirectory(f"Parent path is not a directory: {parent}", path)
                try:
                    await self._stat(path)
                except FileNotFound:
                    pass
                else:
                    raise _exists(path)
            return (await self._json("PUT", path, "MKDIRS", permission=self._masked(permission, 0o777)))["boolean"]
        return defer.ensureDeferred(mkdir())

    def rmdir(self, path):
        """Remove an empty directory: one request, which the namenode refuses for a file (NotADirectory)."""
        async def rmdir():
            if not (await self._json("DELETE", path, "DELETE", recursive=False, directory=True))["boolean"]:
                raise FileNotFound(f"File does not exist: {path}", path)
            return True
        return defer.ensureDeferred(rmdir())

    def rm(self, path, recursive=False):
        """Delete a file (or a tree with ``recursive``) at once, as WebHDFS DELETE does; False when nothing was
        there. ``remove`` moves it into the trash instead, as `dfs rm` does."""
        async def rm():
            return (await self._json("DELETE", path, "DELETE", recursive=recursive))["boolean"]
        return defer.ensureDeferred(rm())

    # -- trash ---------------------------------------------------------------------------------

    def server_defaults(self):
        """The namenode's FsServerDefaults: blockSize, replication, trashInterval (minutes; 0: no trash)..."""
        async def defaults():
            return (await self._json("GET", "/", "GETSERVERDEFAULTS"))["FsServerDefaults"]
        return defer.ensureDeferred(defaults())

    def trash_root(self):
        """The caller's trash directory, ``/user/<user>/.Trash``."""
        return defer.ensureDeferred(self._trash_root())

    async def _trash_root(self):
        return (await self._json("GET", "/", "GETTRASHROOT"))["Path"]

    def remove(self, path, recursive=False, skip_trash=False):
        """What `dfs rm` does: move ``path`` to ``<trash root>/Current/<path>`` when the namenode keeps trash (its
        trashInterval is not 0), as Hadoop's FsShell does; delete it at once with ``skip_trash``, without trash, or
        when it is already in a trash. The path it now has in trash, or None when it was deleted; FileNotFound
        when nothing was there. A directory needs ``recursive``."""
        async def remove():
            status = await self._stat(path)
            if status["type"] == "DIRECTORY" and not recursive:
                raise IsADirectory(f"{path} is a directory", path)
            if skip_trash or trash.is_in_trash(path) or not (await self.server_defaults())["trashInterval"]:
                if not (await self._json("DELETE", path, "DELETE", recursive=recursive))["boolean"]:
                    raise FileNotFound("No such file or directory", path)
                return None
            return await self._move_to_trash(path)
        return defer.ensureDeferred(remove())

    async def _move_to_trash(self, path):
        root = await self._trash_root()
        if paths.is_ancestor(path, root):
            raise CannotMove(f"cannot move {path} to the trash, as it contains the trash (use --skip-trash)", path)
        # The home (and /user) take the usual mode when missing; only the trash itself is private.
        await self._json("PUT", paths.parent(root), "MKDIRS")
        target = await self._trash_parent(root + "/" + trash.CURRENT + path)
        candidate = target
        for _ in range(MAX_TRASH_NAMES):
            if not await self.exists(candidate):
                break
            # Hadoop's rule for a name already in Current: append the time in milliseconds.
            candidate = target + str(int(self.reactor.seconds() * 1000))
        else:
            raise AlreadyExists(f"no free name for {target} in the trash", path)
        if not (await self._json("PUT", path, "RENAME", destination=candidate))["boolean"]:
            raise await self._refused_rename(path, candidate)
        return candidate

    async def _trash_parent(self, target):
        """``target`` once its parent directory exists in trash. A file in the way (``/a`` removed, then ``/a/b``)
        makes the directory part take the time in milliseconds after that file's name, as Hadoop does."""
        for _ in range(MAX_TRASH_NAMES):
            try:
                await self._json("PUT", paths.parent(target), "MKDIRS", permission=_octal(trash.TRASH_MODE))
                return target
            except (AlreadyExists, NotADirectory):
                blocker = paths.parent(target)
                while not await self.exists(blocker):
                    blocker = paths.parent(blocker)
                target = blocker + str(int(self.reactor.seconds() * 1000)) + target[len(blocker):]
        raise AlreadyExists(f"no free directory for {target} in the trash", target)

    def trash_list(self):
        """What the caller's trash holds, newest first: a dict per file (or empty directory) with ``path`` (where
        it is in trash), ``original`` (where it was removed from), ``checkpoint`` ("Current", or the checkpoint it
        is in), ``deleted_before`` (milliseconds since the epoch: the checkpoint's time; None in Current), ``type``
        and ``length``."""
        async def listing():
            items = []
            for checkpoint, made in await self._checkpoints(await self._trash_root()):
                for directory, dirs, files in await self.walk(checkpoint):
                    empty = [] if dirs or files or directory == checkpoint else [{"type": "DIRECTORY", "length": 0}]
                    for entry in files + empty:
                        where = _join(directory, entry["pathSuffix"]) if entry.get("pathSuffix") else directory
                        original, name = trash.original_path(where)
                        items.append({"path": where, "original": original, "checkpoint": name,
                                      "deleted_before": made, "type": entry["type"], "length": entry["length"]})
            return items
        return defer.ensureDeferred(listing())

    async def _checkpoints(self, root):
        """[(path, time made in ms or None)] of Current and each checkpoint of the trash ``root``, newest first."""
        try:
            entries = (await self._json("GET", root, "LISTSTATUS"))["FileStatuses"]["FileStatus"]
        except FileNotFound:
            return []
        current, checkpoints = [], []
        for entry in entries:
            made = trash.checkpoint_time(entry["pathSuffix"])
            if entry["type"] != "DIRECTORY":
                continue
            if entry["pathSuffix"] == trash.CURRENT:
                current.append((_join(root, trash.CURRENT), None))
            elif made is not None:
                checkpoints.append((_join(root, entry["pathSuffix"]), int(made * 1000)))
        return current + sorted(checkpoints, reverse=True)  # checkpoint names sort by time

    def trash_restore(self, path, to=None):
        """Move something back out of the caller's trash: ``path`` is where it was (the newest copy in trash is
        taken) or where it is in trash. It goes back where it was, refused with FileExists when something lives
        there now, or to ``to`` (into ``to`` when that is a directory). Missing parents are created. The path it
        was restored to."""
        async def restore():
            if trash.is_in_trash(path):
                source = path
                try:
                    original = trash.original_path(path)[0]
                except ValueError as e:
                    raise BadRequest(str(e), path) from None
            else:
                source, original = await self._find_in_trash(path), path
            dest = to or original
            if to is None and await self.exists(dest):
                raise AlreadyExists(f"{dest} exists: restore to another place with --to DEST", dest)
            if to is not None and await self.exists(to) and (await self._stat(to))["type"] == "DIRECTORY":
                dest = _join(to, paths.basename(original))
            await self._json("PUT", paths.parent(dest), "MKDIRS")
            if not (await self._json("PUT", source, "RENAME", destination=dest))["boolean"]:
                raise await self._refused_rename(source, dest)
            await self._prune_trash(paths.parent(source))
            return dest
        return defer.ensureDeferred(restore())

    async def _prune_trash(self, directory):
        """Remove the directories a restore left empty in trash (they held only the restored path), up to the
        Current or checkpoint directory, so `trash_list` does not show them as removed empty directories."""
        while len(paths.split(directory)) > TRASH_CHECKPOINT_DEPTH:
            if (await self._json("GET", directory, "LISTSTATUS"))["FileStatuses"]["FileStatus"]:
                return
            await self._json("DELETE", directory, "DELETE", recursive=False)
            directory = paths.parent(directory)

    async def _find_in_trash(self, original):
        """Where the newest copy of ``original`` is in trash: Current before the checkpoints, newest first, and
        within one of them the name with the latest time appended (a clash) before the name itself."""
        name = paths.basename(original)
        for checkpoint, _ in await self._checkpoints(await self._trash_root()):
            directory = checkpoint + paths.parent(original).rstrip("/")
            try:
                entries = (await self._json("GET", directory, "LISTSTATUS"))["FileStatuses"]["FileStatus"]
            except (FileNotFound, NotADirectory):
                continue
            copies = [e["pathSuffix"] for e in entries
                      if e["pathSuffix"] and trash.removed_name(e["pathSuffix"]) == name]
            if copies:
                return _join(directory, max(copies, key=lambda copy: (len(copy), copy)))
        raise FileNotFound(f"{original} is not in the trash", original)

    def trash_expunge(self, immediate=False):
        """What `hadoop fs -expunge` does, by the namenode: delete the caller's checkpoints older than the trash
        interval and make Current a checkpoint; ``immediate`` empties the trash."""
        async def expunge():
            return (await self._json("POST", "/", "EXPUNGE", immediate=immediate))["boolean"]
        return defer.ensureDeferred(expunge())

    def mv(self, src, dst, overwrite=False):
        """Rename; into ``dst`` when it is a directory; ``overwrite`` replaces a file or empty directory atomically.
        A refused rename raises FileNotFound (no source, or no parent for ``dst``), FileExists or CannotMove (a
        directory into itself)."""
        async def mv():
            moved = (await self._json("PUT", src, "RENAME", destination=dst,
                                      renameoptions="OVERWRITE" if overwrite else None))["boolean"]
            if not moved:
                raise await self._refused_rename(src, dst)
            return True
        return defer.ensureDeferred(mv())

    async def _refused_rename(self, src, dst):
        """The error for a rename WebHDFS answered false to: HDFS's rename tells no more, so look."""
        if not await self.exists(src):
            return FileNotFound("No such file or directory", path=src)
        if paths.is_ancestor(src, dst):
            return CannotMove(f"cannot move {src} to a subdirectory of itself", path=dst)
        if not await self.exists(dst):
            return FileNotFound("No such file or directory", path=dst)
        return AlreadyExists("File exists", path=dst)

    def cp(self, src, dst, overwrite=False):
        """Server-side copy: the copy shares the source's blocks, no bytes move."""
        async def cp():
            return (await self._json("PUT", src, "COPY", destination=dst, overwrite=overwrite))["boolean"]
        return defer.ensureDeferred(cp())

    def symlink(self, target, path, create_parent=True):
        """Make ``path`` a symlink holding ``target`` (kept as given, relative or not: nothing resolves it on the
        cluster; the mount's kernel follows it)."""
        return defer.ensureDeferred(self._call("PUT", path, "CREATESYMLINK", destination=target,
                                               createparent=create_parent))

    def link(self, existing, new):
        """A hard link: ``new`` becomes another name of the file ``existing`` (a dfs extension of WebHDFS)."""
        return defer.ensureDeferred(self._call("PUT", existing, "LINK", destination=new))

    def mknod(self, path, kind, mode=0o644, rdev=0):
        """A special file, metadata only: ``kind`` FIFO, SOCKET, CHAR_DEVICE or BLOCK_DEVICE, ``rdev`` its device
        number (a dfs extension of WebHDFS, for the mount)."""
        return defer.ensureDeferred(self._call("PUT", path, "MKNOD", type=kind, permission=_octal(mode), rdev=rdev))

    def touch(self, path, parents=True):
        """Create an empty file, or set an existing one's times to now; ``parents=False``: the directory must exist."""
        async def touch():
            try:
                await self._stat(path)
            except FileNotFound:
                await self._call("PUT", path, "CREATE", body=b"", data="true", createparent=parents)
                return
            await self.set_times(path, mtime=int(time.time() * 1000), atime=int(time.time() * 1000))
        return defer.ensureDeferred(touch())

    def set_times(self, path, mtime=None, atime=None):
        """Milliseconds since the epoch; None leaves a time unchanged."""
        return defer.ensureDeferred(self._call("PUT", path, "SETTIMES", modificationtime=mtime if mtime is not None
                                               else -1, accesstime=atime if atime is not None else -1))

    def chmod(self, path, mode):
        """Set the permission bits (an int such as 0o640, or an octal string), exactly (no umask): only the owner
        or a superuser may."""
        return defer.ensureDeferred(self._call("PUT", path, "SETPERMISSION", permission=_octal(mode)))

    def chown(self, path, owner=None, group=None):
        """Set the owner and/or group names; recorded, not enforced."""
        return defer.ensureDeferred(self._call("PUT", path, "SETOWNER", owner=owner, group=group))

    def set_replication(self, path, replication):
        """Set a file's replication factor; the namenode copies or trims replicas in the background."""
        async def setrep():
            return (await self._json("PUT", path, "SETREPLICATION", replication=replication))["boolean"]
        return defer.ensureDeferred(setrep())

    def xattrs(self, path):
        """{name: value bytes} of the extended attributes of ``path`` (WebHDFS GETXATTRS)."""
        async def get():
            found = (await self._json("GET", path, "GETXATTRS", encoding="BASE64"))["XAttrs"]
            return {x["name"]: base64.b64decode(x["value"][len("0s"):]) for x in found}
        return defer.ensureDeferred(get())

    def set_xattr(self, path, name, value, flag="CREATE,REPLACE"):
        """Set the extended attribute ``name`` (``user.`` or ``trusted.`` and more) to the bytes ``value``;
        ``flag`` CREATE or REPLACE allows only a new one or only an existing one."""
        return defer.ensureDeferred(self._call("PUT", path, "SETXATTR", **{
            "xattr.name": name, "xattr.value": "0s" + base64.b64encode(value).decode(), "flag": flag}))

    def remove_xattr(self, path, name):
        """Remove the extended attribute ``name``; an error when ``path`` has none of that name."""
        return defer.ensureDeferred(self._call("PUT", path, "REMOVEXATTR", **{"xattr.name": name}))

    def acl(self, path):
        """The ACL of ``path`` as HDFS's AclStatus gives it (WebHDFS GETACLSTATUS): ``entries`` (those its mode does
        not hold, e.g. ``["user:bob:rw-", "group::r-x"]``), ``owner``, ``group``, ``permission``, ``stickyBit``."""
        async def get():
            return (await self._json("GET", path, "GETACLSTATUS"))["AclStatus"]
        return defer.ensureDeferred(get())

    def change_acl(self, path, op, spec=None):
        """Change the ACL of ``path`` (its owner's or a superuser's right): ``op`` is WebHDFS's SETACL,
        MODIFYACLENTRIES or REMOVEACLENTRIES with ``spec`` an aclspec (``"user:bob:rw-,default:group:eng:r-x"``;
        names without permissions to remove), or REMOVEDEFAULTACL or REMOVEACL."""
        return defer.ensureDeferred(self._call("PUT", path, op.upper(), aclspec=spec))

    def can(self, path, fsaction):
        """Whether the caller has the access ``fsaction`` (``"r-x"``, ``"rw-"``...) to ``path``, ACLs included
        (WebHDFS CHECKACCESS)."""
        async def check():
            try:
                await self._call("GET", path, "CHECKACCESS", fsaction=fsaction)
            except PermissionDenied:
                return False
            return True
        return defer.ensureDeferred(check())

    def set_quota(self, path, names=None, space=None):
        """Set the directory's name quota (files and directories at or below it, itself counted) and/or space
        quota (bytes, every replica counted); None keeps one, -1 removes it (WebHDFS SETQUOTA)."""
        return defer.ensureDeferred(self._call("PUT", path, "SETQUOTA", namespacequota=names,
                                               storagespacequota=space))

    def truncate(self, path, length):
        """Cut a file to ``length`` bytes, or grow it to that many with a hole (zeros no datanode stores)."""
        return defer.ensureDeferred(self._call("POST", path, "TRUNCATE", newlength=length))

    def concat(self, target, sources):
        """Append the files ``sources`` to ``target``, in order, and remove them; no bytes move."""
        return defer.ensureDeferred(self._call("POST", target, "CONCAT", sources=",".join(sources)))

    # -- snapshots (HDFS's, over WebHDFS) -----------------------------------------------------------

    def allow_snapshot(self, path):
        """Let the directory ``path`` have snapshots (the superuser's)."""
        return defer.ensureDeferred(self._call("PUT", path, "ALLOWSNAPSHOT"))

    def disallow_snapshot(self, path):
        """Stop ``path`` having snapshots (refused while it has some)."""
        return defer.ensureDeferred(self._call("PUT", path, "DISALLOWSNAPSHOT"))

    def create_snapshot(self, path, name=None):
        """Snapshot the directory ``path`` (named ``name``, else by the time, as HDFS): the snapshot's path,
        ``<path>/.snapshot/<name>``, where its files read as they are now, for ever."""
        async def create():
            return (await self._json("PUT", path, "CREATESNAPSHOT", snapshotname=name))["Path"]
        return defer.ensureDeferred(create())

    def delete_snapshot(self, path, name):
        """Delete the snapshot ``name`` of ``path``; GC may then take the blocks only it held."""
        return defer.ensureDeferred(self._call("DELETE", path, "DELETESNAPSHOT", snapshotname=name))

    def rename_snapshot(self, path, old, new):
        """Rename the snapshot ``old`` of ``path`` to ``new``."""
        return defer.ensureDeferred(self._call("PUT", path, "RENAMESNAPSHOT", oldsnapshotname=old, snapshotname=new))

    def snapshots(self, path):
        """The snapshots of ``path``: dicts with snapshotID, fullPath and dirStatus (its modificationTime: when)."""
        async def listing():
            return (await self._json("GET", path, "GETSNAPSHOTLIST"))["SnapshotList"]
        return defer.ensureDeferred(listing())

    def snapshottable_directories(self):
        """The snapshottable directories the caller owns (a superuser: all), with their snapshot counts."""
        async def listing():
            return (await self._json("GET", "/", "GETSNAPSHOTTABLEDIRECTORYLIST"))["SnapshottableDirectoryList"]
        return defer.ensureDeferred(listing())

    def snapshot_diff(self, path, old, new=""):
        """HDFS's diff of ``path`` from snapshot ``old`` to ``new`` ("": now): [{type, sourcePath[, targetPath]}],
        type CREATE, DELETE, MODIFY or RENAME, paths relative to ``path``."""
        async def diff():
            answer = await self._json("GET", path, "GETSNAPSHOTDIFF", oldsnapshotname=old, snapshotname=new)
            return answer["SnapshotDiffReport"]["diffList"]
        return defer.ensureDeferred(diff())

    def restore(self, path, at=None, to=None):
        """Make ``path`` again as it was ``at`` a moment (ms since the epoch, ISO 8601 or "10 minutes ago", inside
        the namenode's --history-retention; or a path under ``.snapshot`` without ``at``) at ``to`` (default:
        ``path``): a deleted tree, an overwritten or truncated file, sharing the blocks it had."""
        return defer.ensureDeferred(self._call("PUT", path, "RESTORE", at=at, destination=to))

    # -- writing -------------------------------------------------------------------------------

    def write(self, path, data, overwrite=False, replication=None, block_size=None, permission=None, mtime=None,
              atime=None, parents=True):
        """Store ``data`` (bytes) at ``path``, as ``upload`` does: an existing file is replaced only with
        ``overwrite=True``, atomically (readers see the old version until the new one is committed)."""
        return self.upload(path, _BytesFile(data), overwrite, replication, block_size, permission, mtime=mtime,
                           atime=atime, parents=parents)

    def upload(self, path, fileobj, overwrite=False, replication=None, block_size=None, permission=None,
               progress=None, length=None, mtime=None, atime=None, parents=True, holes=()):
        """Stream a local file object (or a local path) to ``path``. ``progress(bytes_sent)`` is called as it goes.

        An existing file is refused (``FileExists``) unless ``overwrite``; the replacement is atomic. ``replication``
        and ``block_size`` default to the cluster's; ``permission`` (default 0o666) loses the bits of the client's
        umask (022: 0o644), as with Hadoop's client.

        The body goes straight to the namenode (``data=true``), which saves the redirect round trip.
        ``mtime``/``atime`` (milliseconds since the epoch) are set in the same commit; None leaves the upload's.
        Missing parent directories are created (WebHDFS's rule) unless ``parents`` is False. With ``holes``
        ([(file offset, byte count)], in order and apart) the file is sparse: ``fileobj`` gives only the bytes
        between them, the holes are zeros no datanode stores (dfs's extension of CREATE).

        Returns the new file's FileStatus (a dict, as ``stat`` gives it) as the upload's commit left it, or None when
        it is not known (a namenode of an earlier release).
        """
        return defer.ensureDeferred(self._send("PUT", path, "CREATE", fileobj, progress, length,
                                               overwrite=overwrite, replication=replication, blocksize=block_size,
                                               permission=self._masked(permission, 0o666), modificationtime=mtime,
                                               accesstime=atime, createparent=parents,
                                               holes=file_extents.encode_holes(holes) or None))

    def create_files(self, files):
        """Create several small files in one request (dfs's CREATEBATCH): ``files`` is a list of dicts with ``path``,
        ``data`` (bytes, at most dfs.filebatch.MAX_FILE of them) and any of ``upload``'s ``overwrite``,
        ``permission``, ``mtime``, ``atime``, ``holes``. Each file is its own CREATE, with its own operation id (a
        batch sent again after a lost answer makes none twice). Returns, per file in order, its FileStatus (as
        ``upload`` returns it) or the DFSError that refused that file alone; a failure of the whole request raises.
        """
        frames = [(f["path"], {**_query({
            "overwrite": f.get("overwrite", False), "permission": self._masked(f.get("permission"), 0o666),
            "modificationtime": f.get("mtime"), "accesstime": f.get("atime"),
            "holes": file_extents.encode_holes(f.get("holes", ())) or None}), **self._operation_id()}, f["data"])
            for f in files]

        async def create():
            response = await self._call("POST", "/", "CREATEBATCH", body=filebatch.encode(frames))
            return filebatch.outcomes(await response.content(), [f["path"] for f in files])
        return defer.ensureDeferred(create())

    def append(self, path, fileobj_or_bytes, progress=None):
        """Add bytes (or a file object's contents) to the end of an existing file."""
        if isinstance(fileobj_or_bytes, (bytes, bytearray)):
            fileobj_or_bytes = _BytesFile(bytes(fileobj_or_bytes))
        return defer.ensureDeferred(self._send("POST", path, "APPEND", fileobj_or_bytes, progress, None))

    async def _send(self, method, path, op, source, progress, length, **params):
        close = None
        if isinstance(source, (str, os.PathLike)):
            source = close = open(source, "rb")
        try:
            if length is None:
                length = _remaining(source)
            upload = _Upload(source, progress, length)
            response = await self._call(method, path, op, body=upload, data="true", **params)
            await response.content()
            return _file_status(response) if op == "CREATE" else True
        finally:
            if close is not None:
                close.close()

    # -- reading -------------------------------------------------------------------------------

    def read(self, path, offset=0, length=None, at=None):
        """The bytes of ``path`` from ``offset`` (at most ``length``), verified block by block (``at``: of the file
        as it was then). Each call asks the namenode where the blocks are; ``open`` asks once for many reads."""
        async def read():
            return await self._read_bytes(await self.block_locations(path, offset, length, at), offset, length)
        return defer.ensureDeferred(read())

    def open(self, path, at=None):
        """A ``FileReader`` of ``path`` (``at``: as it was then) for many reads: the namenode is asked where the
        blocks are once, here, and each read then goes straight to a datanode."""
        async def open_():
            return FileReader(self, path, at, await self.block_locations(path, at=at))
        return defer.ensureDeferred(open_())

    async def _read_bytes(self, locations, offset, length):
        """Bytes [offset, offset+length) of the file version that ``locations`` (BlockLocations) describe."""
        pieces = []

        async def collect(data):
            pieces.append(data)
        await self._read_located(locations, offset, length, collect)
        return b"".join(pieces)

    def read_to(self, path, write, offset=0, length=None, progress=None, at=None):
        """Stream the bytes to ``write(data)`` (a plain or async function); returns the byte count (``at``: of the
        file as it was then)."""
        return defer.ensureDeferred(self._read_verified(path, offset, length, write, progress, at))

    def download(self, path, local_path, progress=None, at=None):
        """Copy ``path`` (``at``: as it was then) to a local file; written to a temporary name and renamed when
        complete. Its holes stay holes (a sparse file), where the local file system has them."""
        async def download():
            directory = os.path.dirname(os.path.abspath(local_path))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".dfs-get-")
            try:
                with os.fdopen(fd, "wb") as f:
                    total = await self._read_verified(path, 0, None, f.write, progress, at,
                                                      skip=lambda count: f.seek(count, os.SEEK_CUR))
                    f.truncate(total)  # a hole at the end is a seek too: the size comes from here
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; give it what open() would have
                os.replace(tmp, local_path)
                return total
            except BaseException:
                os.unlink(tmp)
                raise
        return defer.ensureDeferred(download())

    async def _read_verified(self, path, offset, length, write, progress=None, at=None, skip=None):
        """Send bytes [offset, offset+length) to ``write``, each chunk checked before it is passed on; the zeros of
        a hole too, unless ``skip(count)`` takes them (a sparse local copy seeks past them). ``at``: of the file as
        it was then."""
        locations = await self.block_locations(path, offset, length, at)
        return await self._read_located(locations, offset, length, write, progress, skip)

    async def _read_located(self, locations, offset, length, write, progress=None, skip=None):
        """``_read_verified`` of the file version that ``locations`` (BlockLocations) describe."""
        size = locations.get("fileLength", 0)
        end = file_extents.clamp(offset, length, size)
        sent = 0
        extents = file_extents.with_gaps(locations["BlockLocation"], size)
        for (_, block_start, extent_length, loc), position in file_extents.overlapping(extents, offset, end):
            skipped, count = file_extents.cut(position, extent_length, offset, end)
            done_before = sent

            def advance(count):
                if progress:
                    progress(done_before + count)

            if loc is None:  # a hole: zeros, or a seek past them for a sparse copy
                await self._hole(count, write, skip)
            else:
                await self._fetch_block(loc, block_start + skipped, count, write, advance)
            sent += count
            advance(count)
        return sent

    @staticmethod
    async def _hole(count, write, skip):
        if skip is not None:
            skip(count)
            return
        for zeros in file_extents.zeros(count):
            result = write(zeros)
            if hasattr(result, "__await__"):
                await result

    def fetch_block(self, location, fileobj, start=0, count=None):
        """Write ``count`` bytes from ``start`` of a block (a BlockLocation; default all of it) into a file
        object, every chunk checked, trying every replica; for caches of blocks (the FUSE mount)."""
        count = location["blockSize"] - start if count is None else count
        return defer.ensureDeferred(self._fetch_block(location, start, count, fileobj.write))

    async def _fetch_block(self, loc, start, count, write, advance=lambda count: None):
        """``count`` bytes from ``start`` of a block: just the chunks covering them, each checked against the
        block's chunk checksums before any of it goes to ``write``. A replica that fails is followed by the next
        one from the first chunk not yet passed on."""
        block_id = loc["blockId"]
        position, end, _ = chunks.aligned(start, count, loc["blockSize"])  # the next chunk to check
        errors = []
        for url in loc.get("urls", []):
            try:
                sums = await self._chunk_sums(url, block_id)
                response = await self.datanodes.read(url, block_id, position, end - position)
                if response.code != 206:
                    await response.content()
                    raise IOFailure(f"answered {response.code}")
                held = b""  # the start of a chunk not yet complete

                async def keep(data):
                    nonlocal held, position
                    view, used = memoryview(held + data if held else data), 0
                    while True:
                        rest = len(view) - used
                        if rest < chunks.CHUNK_SIZE and not 0 < rest == end - position:  # wait for the rest
                            break
                        piece = view[used:used + chunks.CHUNK_SIZE]
                        used += len(piece)
                        if chunks.first_bad(piece, position // chunks.CHUNK_SIZE, sums) is not None:
                            raise Corrupt(f"chunk at {position} does not match its checksum")
                        lo, hi = max(start - position, 0), min(start + count - position, len(piece))
                        if hi > lo:
                            result = write(bytes(piece[lo:hi]))
                            if hasattr(result, "__await__"):
                                await result
                        position += len(piece)
                        advance(max(0, min(position - start, count)))
                    held = bytes(view[used:])

                await relay_body(response, keep)
                if position < end:
                    raise IOFailure(f"sent {end - position} bytes too few")
            except (*_UNREACHABLE, DFSError, ValueError) as e:
                self._sums.pop((url, block_id), None)  # asked for again, should the replica be tried again
                errors.append(f"{url}: {e.message if isinstance(e, DFSError) else _reason(e)}")
                continue
            return
        raise Corrupt(f"no good replica of block {block_id[:12]}…: {'; '.join(errors) or 'no live datanode holds it'}")

    async def _chunk_sums(self, url, block_id):
        """The chunk checksums of the replica of ``block_id`` at ``url``, from the datanode or kept from before."""
        key = (url, block_id)
        sums = self._sums.get(key)
        if sums is None:
            response = await self.datanodes.checksums(url, block_id)
            if response.code != 200:
                await response.content()
                raise IOFailure(f"answered {response.code}")
            sums = chunks.decode(await response.content())
            self._sums[key] = sums
            if len(self._sums) > SUMS_KEPT:
                self._sums.popitem(last=False)
        self._sums.move_to_end(key)
        return sums


class FileReader:
    """Reads of one file, open: ``Client.open`` located its blocks once, so each ``read`` is one request, to a
    datanode. It reads the file as it was when located (close-to-open, as the mount and Hadoop's input streams
    do): open it again to see a later change. A block that no replica serves any more (the file was replaced and
    its old blocks collected) makes it locate the file again and read it as it is now: a read is never a mix of
    two versions."""

    def __init__(self, client, path, at, locations):
        self._client = client
        self.path = path
        self._at = at
        self._locations = locations

    @property
    def length(self):
        """The file's length as located."""
        return self._locations.get("fileLength", 0)

    def read(self, offset=0, length=None):
        """The bytes from ``offset`` (at most ``length``), every chunk verified."""
        async def read():
            try:
                return await self._client._read_bytes(self._locations, offset, length)
            except Corrupt:
                self._locations = await self._client.block_locations(self.path, at=self._at)
                return await self._client._read_bytes(self._locations, offset, length)
        return defer.ensureDeferred(read())


class _Upload:
    """The body of an upload from a local file object: a fresh producer for each attempt, from the start."""

    def __init__(self, fileobj, progress, length):
        self._source = _Progress(fileobj, progress)
        self._length = UNKNOWN_LENGTH if length is None else length
        self._sending = None

    def producer(self):
        self._sending = FileBodyProducer(self._source, readSize=1024 * 1024)
        self._sending.length = self._length
        return self._sending

    def rewind(self):
        """Ready to send from the start again; False when the source cannot be read again. A refused attempt is
        stopped first: the server answered before it read the body, and Twisted would go on sending it (from the
        same source) until the connection closes."""
        if self._sending is not None:
            self._sending.stopProducing()
        return self._source.rewind()


class _BytesFile:
    """A tiny file object over bytes, so bytes and files share one upload path."""

    def __init__(self, data):
        self._data = memoryview(bytes(data))
        self._pos = 0

    def read(self, n=-1):
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        chunk = bytes(self._data[self._pos:end])
        self._pos = end
        return chunk

    def seek(self, offset, whence=0):
        self._pos = offset if whence == 0 else len(self._data) + offset if whence == 2 else self._pos + offset
        return self._pos

    def tell(self):
        return self._pos


def _query(params):
    """Query parameters as WebHDFS takes them: booleans as true/false, None left out."""
    return {key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in params.items() if value is not None}


def _file_status(response):
    """The new file's FileStatus a CREATE answer carries (None from a namenode that does not say)."""
    value = response.headers.getRawHeaders(FILE_STATUS_HEADER)
    return json.loads(value[0]) if value else None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tell(fileobj):
    """Where a seekable file object is, or None (a pipe)."""
    try:
        return fileobj.seek(fileobj.tell())
    except (OSError, AttributeError, ValueError):
        return None


def _remaining(fileobj):
    """Bytes left in a seekable file object, or None (a pipe: sent chunked)."""
    try:
        here = fileobj.tell()
        end = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError):
        return None


def _octal(mode):
    return None if mode is None else format(mode, "o") if isinstance(mode, int) else str(mode)


def _exists(path):
    return AlreadyExists(f"{path} already exists", path)


def _gone(exc):
    """Whether a failure to reach a namenode says it is not there (refused, or the connection dropped), as when it
    restarts, rather than that it is frozen (a timeout) or unknown (a DNS failure)."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    reasons = getattr(exc, "reasons", None)  # ResponseFailed, RequestTransmissionFailed: a list of Failures
    return reasons is not None and not any(reason.check(ReadTimeout) for reason in reasons)


def _reason(exc):
    reasons = getattr(exc, "reasons", None)  # ResponseFailed, RequestTransmissionFailed: a list of Failures
    if reasons is not None:
        return "; ".join(r.getErrorMessage() for r in reasons) or "connection lost"
    return str(exc) or type(exc).__name__


async def _error(response, path=None):
    """The typed error of a failed answer, naming ``path`` (as the caller passed it) when there is one."""
    body = await response.content()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = body.decode("utf-8", "replace")[:300] or f"HTTP {response.code}"
    error = from_remote(response.code, parsed)
    error.path = path
    return error
