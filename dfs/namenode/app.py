"""The namenode's HTTP surface: WebHDFS v1, the cluster endpoints datanodes and operators use, and health."""

import dataclasses
import hashlib
import io
import os
import time
from urllib.parse import quote, urlencode

from klein import Klein
from twisted.internet import defer
from twisted.logger import Logger

from dfs import extents as file_extents
from dfs import filebatch
from dfs import blockreports, hadoop_checksum, moments, pages, paths, protocol
from dfs.errors import (AccessControlException, BadRequest, DFSError, FileNotFound, FileTooLarge, IOFailure,
                        SnapshotAccessControlException, Unavailable)
from dfs.http import FILE_STATUS_HEADER
from dfs.limits import MAX_FILE_SIZE
from dfs.metrics import NamenodeMetrics
from dfs.namenode import acls, webhdfs, xattrs
from dfs.namenode.access import Access
from dfs.namenode.balancer import DEFAULT_BANDWIDTH, DEFAULT_THRESHOLD, Balancer
from dfs.namenode.checksums import FileChecksums
from dfs.namenode.namespace.model import FILE, SYMLINK, Extent, Status
from dfs.namenode.namespace.retries import FORGOTTEN, Operation
from dfs.namenode.permissions import Checker, Permissions
from dfs.namenode.steps import in_steps
from dfs.namenode.streaming import UploadStream
from dfs.namenode.trash import TrashEmptier
from dfs.namenode.verdict import verdict
from dfs.racks import check_rack
from dfs.security import NODE, RANGE_PARAMS, SIGNED_URL, TOKEN, Guard, restrict
from dfs.trash import root_of as trash_root
from dfs.version import version
from dfs.web import (JSON, OCTETS, SHA256, HotRoute, Params, checksum_json, has_body, json_body, namespace_path,
                     parse_query, query_params, read_json, render_error, request_path)

log = Logger()

PREFIX = b"/webhdfs/v1"
GET, PUT, POST, DELETE = b"GET", b"PUT", b"POST", b"DELETE"
WEBHDFS_METHODS = (GET, b"HEAD", PUT, POST, DELETE)
MIN_BLOCK_SIZE = 1024
MAX_REPLICATION = 32
# Entries in one LISTSTATUS_BATCH answer (the namenode's --list-limit), HDFS's dfs.ls.limit default.
LIST_LIMIT = 1000
# The requests whose bodies are file data, streamed into the fan-out while they arrive (any other method for
# these ops is refused by the route without storing a byte).
UPLOADS = {(PUT, "CREATE"), (POST, "APPEND")}
# dfs's CREATEBATCH: small files' CREATEs in one body (dfs.filebatch), received whole (it is bounded) before the route.
BATCH = (POST, "CREATEBATCH")
# SETQUOTA's values besides a quota: HDFS's QUOTA_DONT_SET (the parameter's default) and QUOTA_RESET.
QUOTA_DONT_SET, QUOTA_RESET = 2 ** 63 - 1, -1
DRAIN_CHUNK = 1024 * 1024  # bytes read at a time from a body that is not kept
# Times are stored as SQLite integers: a larger one would fail at commit, after a CREATE's bytes were stored.
MAX_MS = 2 ** 63 - 1
# Pieces of one full block report: 10^9 blocks at the datanode's piece size, far beyond any one datanode.
MAX_REPORT_PIECES = 1 << 16


def _mark(body):
    """A datanode's store mark, passed back verbatim on deletes; None from a node that sends none."""
    mark = body.get("mark")
    return None if mark is None else str(mark)


def _filesystem(body):
    """The filesystem a datanode's blocks are on, as it names it (None: a share of its own)."""
    name = body.get("filesystem")
    return str(name) if name else None


def _rack(body):
    """The rack a datanode says it is in (None: it names none, the default rack)."""
    rack = body.get("rack")
    return check_rack(str(rack)) if rack else None


def _user(call):
    """The user a request acts for, as it named them (a token's user, ``doas``), else ``dfs``: for home and trash
    paths."""
    return paths.check_name(call.owner or "dfs")


def _space(nodes):
    """Capacity, used and free bytes of the datanodes that are not dead (as ``registry.describe`` lists them)."""
    space = {"capacity": 0, "used": 0, "free": 0}
    filesystems = set()
    for node in nodes:
        if node["liveness"] != "dead":
            space["used"] += node["used"]
            if node["filesystem"] not in filesystems:  # datanodes sharing a disk share its space
                filesystems.add(node["filesystem"])
                space["capacity"] += node["capacity"]
                space["free"] += node["free"]
    return space


def _positive(params, name, default):
    """A number above 0 from the query (``default`` without one), else BadRequest."""
    text = params.str(name)
    try:
        value = default if text is None else float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise BadRequest(f"{name} must be a number above 0, not {text!r}")
    return value


def _discard_body(failure, stream):
    """A failed upload keeps none of the rest of its body."""
    stream.discard()
    return failure


def _all_values(request, name):
    """Every value of a query parameter that may repeat (GETXATTRS's ``xattr.name``), its name case-insensitive."""
    return [value.decode("utf-8", "replace") for key, values in request.args.items()
            if key.decode("utf-8", "replace").lower() == name for value in values]


def _refuse_snapshot_writes(path, params):
    """Snapshots are read-only: a change of a path, or to a destination, under ``.snapshot`` is refused (HDFS).
    RESTORE reads its path (a snapshot's, maybe) and writes its destination (by default the path)."""
    destination = params.str("destination")
    written = [destination or path] if params.str("op", "").upper() == "RESTORE" else [path, destination]
    for touched in written:
        if touched and paths.in_snapshot(touched):
            raise SnapshotAccessControlException("Modification on a read-only snapshot is disallowed")


def _in_the_past(path, params):
    """Whether a read is of the past: under a snapshot, or ``at`` a moment (dfs's extension)."""
    return paths.in_snapshot(path) or bool(params.str("at"))


def _at(params):
    """The moment of ``at`` in milliseconds (None without one); ``moments`` says what it may be."""
    text = params.str("at")
    return moments.parse(text, time.time()) if text else None


async def _drain(read):
    """Read a body to its end, keeping none of it (its length is bounded by the HTTP limits, dfs.limits)."""
    while await defer.maybeDeferred(read, DRAIN_CHUNK):
        pass


def _created_status(inode, params):
    """The FileStatus text of a file a CREATE with ``params`` just made (its holes are in the parameters)."""
    holes = sum(count for _, count in file_extents.decode_holes(params.str("holes", "")))
    return webhdfs.file_status(Status(inode, holes=holes))


def _body_size(content):
    here = content.tell()
    content.seek(0, os.SEEK_END)
    size = content.tell()
    content.seek(here)
    return size


class NamenodeApp:
    """Routes of the namenode. Its state (store, registry, fan-out, repair) is built by ``tap.build_namenode``."""

    app = Klein()

    def __init__(self, store, registry, fanout, repair, config, guard=None, access=None, trash=None, backups=None,
                 balancer=None):
        self.backups = backups  # a dfs.namenode.backup.Backups: None without --backup-dir
        self.balancer = balancer or Balancer(store, registry, fanout.datanodes, repair, registry.clock)
        self.guard = guard or Guard()
        # Without one (tests of other concerns), nothing is checked: permissions off, no audit trail.
        self.access = access or Access(Permissions(None, "dfs", enabled=False))
        self.trash = trash or TrashEmptier(store, registry.clock, config.get("trash_interval", 0) * 60)
        self.store = store
        self.registry = registry
        self.fanout = fanout
        self.repair = repair
        self.safemode = repair.safemode
        self.config = config
        self.max_file_size = config.get("max_file_size", MAX_FILE_SIZE)
        self.list_limit = config.get("list_limit", LIST_LIMIT)
        self.started = registry.clock.seconds()
        self.checksums = FileChecksums(fanout.datanodes, registry)
        self.telemetry = NamenodeMetrics(self.cluster_status, fanout, store)
        self.ops = {
            (GET, "GETFILESTATUS"): self.op_getfilestatus,
            # GETFILESTATUS never follows a link in dfs, so it is already what Hadoop 3.4 asks this op for.
            (GET, "GETFILELINKSTATUS"): self.op_getfilestatus,
            (GET, "GETLINKTARGET"): self.op_getlinktarget,
            (GET, "LISTSTATUS"): self.op_liststatus,
            (GET, "LISTSTATUS_BATCH"): self.op_liststatus_batch,
            (GET, "GETCONTENTSUMMARY"): self.op_getcontentsummary,
            (GET, "GETFILECHECKSUM"): self.op_getfilechecksum,
            (GET, "GETHOMEDIRECTORY"): self.op_gethomedirectory,
            (GET, "GETFILEBLOCKLOCATIONS"): self.op_getfileblocklocations,
            (GET, "OPEN"): self.op_open,
            (PUT, "CREATE"): self.op_upload,
            (PUT, "MKDIRS"): self.op_mkdirs,
            (PUT, "RENAME"): self.op_rename,
            (PUT, "SETTIMES"): self.op_settimes,
            (PUT, "SETPERMISSION"): self.op_setpermission,
            (PUT, "SETOWNER"): self.op_setowner,
            (PUT, "SETREPLICATION"): self.op_setreplication,
            (PUT, "COPY"): self.op_copy,
            (PUT, "CREATESYMLINK"): self.op_createsymlink,
            (PUT, "LINK"): self.op_link,
            (PUT, "MKNOD"): self.op_mknod,
            (POST, "APPEND"): self.op_upload,
            BATCH: self.op_createbatch,
            (POST, "TRUNCATE"): self.op_truncate,
            (POST, "CONCAT"): self.op_concat,
            (DELETE, "DELETE"): self.op_delete,
            (GET, "GETSERVERDEFAULTS"): self.op_getserverdefaults,
            (GET, "GETSTATUS"): self.op_getstatus,
            (GET, "GETQUOTAUSAGE"): self.op_getquotausage,
            (GET, "GETSTORAGEPOLICY"): self.op_getstoragepolicy,
            (GET, "GETALLSTORAGEPOLICY"): self.op_getallstoragepolicy,
            (PUT, "SETSTORAGEPOLICY"): self.op_setstoragepolicy,
            (POST, "UNSETSTORAGEPOLICY"): self.op_unsetstoragepolicy,
            (GET, "GETTRASHROOT"): self.op_gettrashroot,
            (GET, "GETTRASHROOTS"): self.op_gettrashroots,
            (GET, "GETXATTRS"): self.op_getxattrs,
            (GET, "LISTXATTRS"): self.op_listxattrs,
            (PUT, "SETXATTR"): self.op_setxattr,
            (PUT, "REMOVEXATTR"): self.op_removexattr,
            (PUT, "SETQUOTA"): self.op_setquota,
            (PUT, "SETQUOTABYSTORAGETYPE"): self.op_setquotabystoragetype,
            (POST, "EXPUNGE"): self.op_expunge,
            (GET, "GETACLSTATUS"): self.op_getaclstatus,
            (PUT, "SETACL"): self.op_changeacl,
            (PUT, "MODIFYACLENTRIES"): self.op_changeacl,
            (PUT, "REMOVEACLENTRIES"): self.op_changeacl,
            (PUT, "REMOVEDEFAULTACL"): self.op_changeacl,
            (PUT, "REMOVEACL"): self.op_changeacl,
            (GET, "CHECKACCESS"): self.op_checkaccess,
            (PUT, "ALLOWSNAPSHOT"): self.op_allowsnapshot,
            (PUT, "DISALLOWSNAPSHOT"): self.op_disallowsnapshot,
            (PUT, "CREATESNAPSHOT"): self.op_createsnapshot,
            (DELETE, "DELETESNAPSHOT"): self.op_deletesnapshot,
            (PUT, "RENAMESNAPSHOT"): self.op_renamesnapshot,
            (GET, "GETSNAPSHOTDIFF"): self.op_getsnapshotdiff,
            (GET, "GETSNAPSHOTDIFFLISTING"): self.op_getsnapshotdifflisting,
            (GET, "GETSNAPSHOTLIST"): self.op_getsnapshotlist,
            (GET, "GETSNAPSHOTTABLEDIRECTORYLIST"): self.op_getsnapshottabledirectorylist,
            (PUT, "RESTORE"): self.op_restore,
        }

    def resource(self):
        """Klein's routes, WebHDFS (every client request) taken first without Klein's routing."""
        return HotRoute(self.app.resource(), PREFIX + b"/", WEBHDFS_METHODS, self.webhdfs, self.errors)

    def is_upload(self, method, target):
        """Whether a request's body is file data, for the HTTP limits (dfs.limits) that see it before routing."""
        path, _, query = target.partition(b"?")
        return path.startswith(PREFIX + b"/") and (method, query_params(query).get("op", "").upper()) in UPLOADS

    @app.handle_errors(Exception)
    def errors(self, request, failure):
        return render_error(request, failure)

    # -- WebHDFS ----------------------------------------------------------------------------------

    @app.route("/webhdfs/v1/", branch=True, methods=[method.decode() for method in WEBHDFS_METHODS])
    async def webhdfs(self, request):
        gone = []
        request.notifyFinish().addErrback(gone.append)
        try:
            return await self._webhdfs(request)
        except BaseException as e:
            self._drop_uncollected(request)
            if gone and not isinstance(e, defer.CancelledError):
                # The client went away (Klein then cancels the handler): whatever the work ended with, nobody
                # hears it. Klein takes a cancellation quietly and logs anything else as an unhandled error.
                log.info("{method} {uri}: the client went away ({why})", method=request.method.decode(),
                         uri=request.uri.decode("ascii", "replace"), why=e)
                raise defer.CancelledError() from None
            raise

    async def _webhdfs(self, request):
        identity = self.guard.check(request, NODE, TOKEN, SIGNED_URL)
        params = Params(request)
        op = params.str("op", required=True).upper()
        method = GET if request.method == b"HEAD" else request.method
        handler = self.ops.get((method, op))
        if handler is None:
            if any(name == op for _, name in self.ops):
                raise BadRequest(f"Invalid HTTP method {request.method.decode()} for op {op}")
            raise BadRequest(f"Invalid value for webhdfs parameter \"op\": No enum constant for {op}")
        request.webhdfs_op = op
        path = request_path(request, PREFIX)
        if method != GET and self.safemode.on:
            raise Unavailable(f"Name node is in safe mode: {self.safemode.reason()}")
        if (method, op) not in UPLOADS and (method, op) != BATCH and has_body(request) and method in (PUT, POST):
            raise BadRequest(f"{op} takes no request body")
        if method != GET:
            _refuse_snapshot_writes(path, params)
        call = await self.access.call(identity, params, request.getClientAddress().host)
        try:
            body = await handler(request, params, path, call)
        except AccessControlException:
            self.access.record(call, op, path, allowed=False)
            raise
        self.access.record(call, op, path, allowed=True)
        return body

    async def op_getfilestatus(self, request, params, path, call):
        if _in_the_past(path, params):
            status = await self.store.past_status(path, _at(params), call.checker)
        else:
            status = await self.store.status(path, call.checker)
        return self._json_text('{"FileStatus":' + webhdfs.file_status(status) + "}", request)

    async def op_getlinktarget(self, request, params, path, call):
        inode = (await self.store.status(path, call.checker)).inode
        if inode.type != SYMLINK:
            raise IOFailure(f"Path {path} is not a symbolic link")
        return json_body({"Path": inode.target}, request)

    async def op_liststatus(self, request, params, path, call):
        if _in_the_past(path, params):
            listed = await self.store.past_listing(path, _at(params), call.checker)
        else:
            listed = await self.store.listing(path, checker=call.checker)
        return self._json_text(webhdfs.list_status(*listed), request)

    async def op_liststatus_batch(self, request, params, path, call):
        """One page of a directory: the entries named after ``startAfter`` (which need not exist any more), in
        name order, at most ``list_limit`` of them."""
        status, entries = await self.store.listing(path, params.str("startafter") or None, self.list_limit,
                                                  checker=call.checker)
        remaining = 0
        if entries is not None and len(entries) == self.list_limit:
            remaining = await self.store.count_entries(path, entries[-1].name)
        return self._json_text(webhdfs.directory_listing(status, entries, remaining), request)

    @staticmethod
    def _json_text(text, request):
        request.setHeader(b"Content-Type", JSON)
        return text.encode()

    async def op_getcontentsummary(self, request, params, path, call):
        if _in_the_past(path, params):
            summary = await self.store.past_content_summary(path, _at(params), call.checker)
        else:
            summary = await self.store.content_summary(path, call.checker)
        return json_body(webhdfs.content_summary(summary), request)

    async def op_gethomedirectory(self, request, params, path, call):
        return json_body({"Path": "/user/" + _user(call)}, request)

    async def _file(self, path, call, params):
        """The file at ``path`` (under a snapshot, or ``at`` a moment, as it was then) and its extents, once ``call``
        may read it (a signed URL grants nothing more)."""
        if _in_the_past(path, params):
            inode, extents = await self.store.past_stat(path, _at(params), call.checker)
        else:
            inode, extents = await self.store.stat(path, call.checker)
        if inode.type != FILE:
            raise FileNotFound(f"Path is not a file: {path}")
        return inode, extents

    async def op_getfileblocklocations(self, request, params, path, call):
        offset = params.int("offset", 0, minimum=0)
        length = params.int("length", None, minimum=0)
        inode, extents = await self._file(path, call, params)
        length = inode.size if length is None else length
        body = webhdfs.block_locations(extents, offset, length, self.registry.holders, inode.replication)
        body["BlockLocations"]["fileLength"] = inode.size
        return json_body(body, request)

    async def op_open(self, request, params, path, call):
        offset = params.int("offset", 0, minimum=0)
        length = params.int("length", None, minimum=0)
        inode, extents = await self._file(path, call, params)
        end = file_extents.clamp(offset, length, inode.size)
        if end <= offset:  # nothing to read
            request.setHeader(b"Content-Type", OCTETS)
            return b""
        node = self._reader_for(extents, offset, end)
        # The URL names the whole file version, not the range asked for: clients such as Hadoop's seek by
        # sending it again with another offset and length.
        query = {"op": "OPEN", "offset": offset, **file_extents.naming(extents)}
        if length is not None:
            query["length"] = length
        return self._redirect(request, params, node.public_url, path, query, audience=node.id, free=RANGE_PARAMS)

    async def op_getfilechecksum(self, request, params, path, call):
        inode, extents = await self._file(path, call, params)
        if params.str("algorithm", "").upper() != SHA256:
            return json_body(checksum_json(*await self.checksums.of(extents, inode.block_size)), request)
        if not extents:
            return json_body(checksum_json(SHA256, hashlib.sha256().digest()), request)
        node = self._reader_for(extents, 0, file_extents.size(extents))
        query = {"op": "GETFILECHECKSUM", **file_extents.naming(extents)}
        return self._redirect(request, params, node.public_url, path, query, audience=node.id)

    def _reader_for(self, extents, offset, end):
        """A live datanode holding the first block of bytes [offset, end) (holes need none: any node sends their
        zeros); a readable copy beats a random node."""
        for ext, _ in file_extents.overlapping(extents, offset, end):
            holders = self.registry.holders(ext.block_id) if ext.block_id is not None else ()
            if holders:
                return holders[0]
        alive = self.registry.alive()
        if not alive:
            raise IOFailure("Failed to find datanode, suggest to check cluster health.")
        return alive[0]

    def _redirect(self, request, params, base_url, path, query, audience="namenode", free=()):
        user = params.str("user.name")
        if user:
            query["user.name"] = user
        query.update(self.guard.sign_url(request.method, PREFIX.decode() + path, query, audience, free))
        location = f"{base_url}{PREFIX.decode()}{quote(path)}?{urlencode(sorted(query.items()))}"
        if params.bool("noredirect"):
            return json_body({"Location": location}, request)
        request.setResponseCode(307)
        request.setHeader(b"Location", location.encode())
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    def _own_url(self, request):
        if self.config.get("public_url"):
            return self.config["public_url"].rstrip("/")
        scheme = "https" if request.isSecure() else "http"
        host = (request.getHeader(b"host") or b"").decode("ascii", "replace")
        if not host:
            addr = request.getHost()
            host = f"{addr.host}:{addr.port}"
        return f"{scheme}://{host}"

    def _redirect_to_self(self, request, params, path):
        query = dict(params.items())
        query["data"] = "true"
        query.pop("noredirect", None)
        return self._redirect(request, params, self._own_url(request), path, query)

    def _write_params(self, params):
        block_size = params.int("blocksize", self.config["block_size"], minimum=MIN_BLOCK_SIZE)
        replication = params.int("replication", self.config["replication"], minimum=1, maximum=MAX_REPLICATION)
        return block_size, replication

    @staticmethod
    def _times(params):
        """(mtime, atime) in milliseconds as SETTIMES and CREATE take them; -1 or absent gives None."""
        mtime = params.int("modificationtime", -1, minimum=-1, maximum=MAX_MS)
        atime = params.int("accesstime", -1, minimum=-1, maximum=MAX_MS)
        return None if mtime == -1 else mtime, None if atime == -1 else atime

    def _room(self, inode=None):
        """Bytes a CREATE (no ``inode``) or an APPEND to the file ``inode`` may still add."""
        return self.max_file_size - (inode.size if inode is not None else 0)

    def _within(self, read, length, room):
        """``read``, refused up front when ``length`` exceeds ``room``, and as it goes for a chunked body."""
        too_large = FileTooLarge(f"the file would grow past the largest file size, {self.max_file_size} bytes")
        if length is not None and length > room:
            raise too_large
        taken = 0

        async def bounded(size):
            nonlocal taken
            data = await defer.maybeDeferred(read, size)
            taken += len(data)
            if taken > room:
                raise too_large
            return data
        return bounded

    # -- uploads: CREATE and APPEND ---------------------------------------------------------------
    #
    # One path, streamed or not: ``_receive`` checks what can be checked before any byte moves and stores the
    # body; ``op_upload`` commits what it stored once the route has accepted the request. A streamed body
    # (dfs.namenode.streaming) is received while it arrives: ``start_upload`` starts ``_receive`` as soon as the
    # headers are in. A body already in hand (in-memory tests) is received by ``op_upload`` itself.

    def start_upload(self, request, method, target, length):
        """Called as soon as a request's headers are in (dfs.namenode.streaming): for a WebHDFS CREATE/APPEND
        with a body, start receiving the body while it arrives and return the stream; None for anything else."""
        if not self.is_upload(method, target) or self.safemode.on:
            return None
        url_path, _, query = target.partition(b"?")
        try:
            path = namespace_path(url_path, PREFIX)
        except BadRequest:
            return None  # the route answers it
        stream = UploadStream(request.channel.transport, length)
        stream.result = defer.Deferred.fromCoroutine(self._receive_as(request, method, target, path, query,
                                                                      stream.read_chunk, length))
        stream.result.addErrback(_discard_body, stream)
        return stream

    async def _receive_as(self, request, method, target, path, query, read, length):
        """``_receive`` for a body that streams in before its route runs: the caller is known from the headers,
        and the parameters read are only those the credential lets the caller set (as the route would see)."""
        identity = self.guard.identify(method, target, request.requestHeaders, (NODE, TOKEN, SIGNED_URL))
        params = Params.from_args(restrict(identity, parse_query(query)))
        call = await self.access.call(identity, params, request.getClientAddress().host)
        return await self._receive(path, params, read, length, call)

    async def _receive(self, path, params, read, length, call):
        """Check the upload before any byte moves (permissions included), then store the ``length`` bytes (None:
        until the end) that ``read(n)`` yields; (extents, ``commit(extents)``: a CREATE's gives the new inode).
        The retry of an upload that committed already stores nothing: its answer is the first attempt's."""
        _refuse_snapshot_writes(path, params)
        op = params.str("op", "").upper()
        answer = await self.store.recall(op, call.checker)
        if answer is not FORGOTTEN:
            await _drain(read)
            return [], lambda extents: defer.succeed(answer)
        if op == "CREATE":
            block_size, replication = self._write_params(params)
            overwrite = params.bool("overwrite", False)
            create_parent = params.bool("createparent", True)
            mode = params.octal("permission", 0o644)
            mtime, atime = self._times(params)
            # dfs's extension for sparse files: the body is the stored bytes, these [(offset, count)] are holes.
            holes = file_extents.decode_holes(params.str("holes", ""))
            await self.store.check_create(path, overwrite, create_parent, call.checker)
            room = self._room() - sum(count for _, count in holes)

            unmasked = params.octal("unmaskedpermission", None)

            def commit(extents):
                return self.store.create(
                    path, file_extents.with_holes(extents, holes, Extent.hole), overwrite, replication, block_size,
                    mode, owner=call.owner, group=call.group, create_parent=create_parent, mtime=mtime, atime=atime,
                    checker=call.checker, unmasked=unmasked,
                )
        else:
            inode = await self.store.file_for_append(path, call.checker)
            block_size, replication = inode.block_size, inode.replication
            room = self._room(inode)

            async def commit(extents):
                if extents:
                    await self.store.append(path, extents, call.checker)
        if length is not None:  # a quota the body would pass refuses it before any byte is stored
            await self.store.check_quota(path, length * replication, append=op != "CREATE")
        extents = await self.fanout.write_stream(self._within(read, length, room), length, block_size, replication,
                                                 self.config["min_replicas"], writer=call.ip)
        return extents, commit

    def _received(self, request, params, path, call):
        """The outcome of ``_receive`` for this request's body: the streamed one's (first thing the handler awaits,
        so the outcome, errors included, is always collected), or that of receiving the body in hand now."""
        content = request.content
        if isinstance(content, UploadStream):
            content.collected = True
            return content.result
        total = _body_size(content)
        content.seek(0)
        return defer.Deferred.fromCoroutine(self._receive(path, params, content.read, total, call))

    def _drop_uncollected(self, request):
        """A handler failed before it looked at a streamed upload: let GC have its blocks, quietly."""
        stream = request.content
        if isinstance(stream, UploadStream) and not stream.collected:
            stream.collected = True
            stream.result.addCallbacks(lambda received: self.fanout.release(received[0]), lambda f: None)

    async def op_upload(self, request, params, path, call):
        """CREATE and APPEND: without a body, a redirect to where the body goes (here); with it, the commit."""
        create = params.str("op").upper() == "CREATE"
        if create:
            self._write_params(params)  # a bad one fails before the redirect
        if not params.bool("data") and not has_body(request):
            call.audited = False  # the redirect is not the operation; its second leg is audited
            return self._redirect_to_self(request, params, path)
        extents, commit = await self._received(request, params, path, call)
        try:
            call.inode = await commit(extents)
        finally:
            self.fanout.release(extents)
        if create:
            request.setResponseCode(201)
            request.setHeader(b"Location",
                              f"webhdfs://{self._own_url(request).split('://', 1)[1]}{quote(path)}".encode())
            # dfs's extension: the file as its commit left it, so a client (the mount) need not ask for it.
            request.setHeader(FILE_STATUS_HEADER, _created_status(call.inode, params).encode())
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_createbatch(self, request, params, path, call):
        """dfs's CREATEBATCH: the CREATEs of small files (dfs.filebatch) each done as its own, with its own operation
        id, permission checks, quota and audit line, all at once: their blocks go to each datanode together
        (dfs.namenode.batching) and their commits into the same group commit. One file's refusal is its own."""
        files = filebatch.decode(request.content.read)
        call.audited = False  # each file is audited as its CREATE
        outcomes = await defer.gatherResults([defer.Deferred.fromCoroutine(self._create_one(target, query, data, call))
                                              for target, query, data in files])
        request.setHeader(b"Content-Type", JSON)
        return filebatch.answer(outcomes)

    async def _create_one(self, target, query, data, batch_call):
        """One file of a CREATEBATCH as a CREATE with a body: its FileStatus text, or the DFSError refusing it."""
        try:
            path = namespace_path(target, b"")
            args = {key: values for key, values in parse_query(query).items() if key.lower() != b"op"}
            params = Params.from_args({**args, b"op": [b"CREATE"]})
            checker = batch_call.checker
            call = dataclasses.replace(batch_call, audited=True,
                                       checker=Checker(checker.caller, checker.enabled, Operation.of(params)))
        except DFSError as e:
            return e
        try:
            extents, commit = await self._receive(path, params, io.BytesIO(data).read, len(data), call)
            try:
                call.inode = await commit(extents)
            finally:
                self.fanout.release(extents)
        except DFSError as e:
            if isinstance(e, AccessControlException):
                self.access.record(call, "CREATE", path, allowed=False)
            return e
        self.access.record(call, "CREATE", path, allowed=True)
        return filebatch.status_entry(_created_status(call.inode, params))

    async def op_mkdirs(self, request, params, path, call):
        call.inode = await self.store.mkdirs(path, params.octal("permission", 0o755), call.owner, call.group,
                                             checker=call.checker, unmasked=params.octal("unmaskedpermission", None))
        return json_body({"boolean": True}, request)

    async def op_rename(self, request, params, path, call):
        call.dst = destination = params.path("destination")
        overwrite = "overwrite" in params.str("renameoptions", "").lower()
        return json_body({"boolean": await self.store.rename(path, destination, overwrite, call.checker)}, request)

    async def op_copy(self, request, params, path, call):
        call.dst = destination = params.path("destination")
        await self.store.copy(path, destination, params.bool("overwrite", False), call.owner, call.group,
                              call.checker)
        return json_body({"boolean": True}, request)

    async def op_createsymlink(self, request, params, path, call):
        """HDFS's CREATESYMLINK: ``path`` becomes a link to ``destination``, which is stored as given (a relative
        target stays relative: the mount needs it so) and never resolved by the namenode."""
        target = paths.check_target(params.str("destination", required=True))
        call.dst = target
        call.inode = await self.store.symlink(target, path, params.bool("createparent", True), owner=call.owner,
                                              group=call.group, checker=call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_link(self, request, params, path, call):
        """A dfs extension (Hadoop has no hard links): ``destination`` becomes another name of the file ``path``."""
        call.dst = params.path("destination")
        await self.store.link(path, call.dst, call.checker)
        return json_body({"boolean": True}, request)

    async def op_mknod(self, request, params, path, call):
        """A dfs extension: a special file (``type`` FIFO, SOCKET, CHAR_DEVICE or BLOCK_DEVICE; ``rdev`` its device
        number), metadata only, for the mount."""
        kind = params.str("type", required=True).upper()
        rdev = params.int("rdev", 0, minimum=0)
        call.inode = await self.store.mknod(path, kind, params.octal("permission", 0o644), rdev, owner=call.owner,
                                            group=call.group, checker=call.checker)
        return json_body({"boolean": True}, request)

    async def op_delete(self, request, params, path, call):
        deleted = await self.store.delete(path, params.bool("recursive", False), call.checker,
                                          directory=params.bool("directory", False))
        return json_body({"boolean": deleted}, request)

    async def op_settimes(self, request, params, path, call):
        mtime, atime = self._times(params)
        call.inode = await self.store.set_times(path, mtime, atime, call.checker)
        return json_body({}, request)

    async def op_setpermission(self, request, params, path, call):
        call.inode = await self.store.set_permission(path, params.octal("permission", 0o755), call.checker)
        return json_body({}, request)

    async def op_setowner(self, request, params, path, call):
        owner, group = params.str("owner") or None, params.str("group") or None
        if owner is None and group is None:
            raise BadRequest("Both owner and group are empty.")
        call.inode = await self.store.set_owner(path, owner, group, call.checker)
        return json_body({}, request)

    async def op_setreplication(self, request, params, path, call):
        replication = params.int("replication", self.config["replication"], minimum=1, maximum=MAX_REPLICATION)
        changed = await self.store.set_replication(path, replication, call.checker)
        if changed:
            self.repair.kick()
        return json_body({"boolean": changed}, request)

    async def op_truncate(self, request, params, path, call):
        length = params.int("newlength", required=True, minimum=0)
        if length > self.max_file_size:
            raise FileTooLarge(f"newlength {length} is past the largest file size, {self.max_file_size} bytes")
        await self.store.truncate(path, length, call.checker)
        return json_body({"boolean": True}, request)

    async def op_concat(self, request, params, path, call):
        sources = [paths.normalize(s) for s in params.str("sources", required=True).split(",") if s]
        if not sources:
            raise BadRequest('Required param "sources" is empty')
        await self.store.concat(path, sources, call.checker)
        return json_body({}, request)

    # -- WebHDFS ops answered as a file system with one storage type; trash ----------------------------------

    async def op_getserverdefaults(self, request, params, path, call):
        return json_body(webhdfs.server_defaults(self.config["block_size"], self.config["replication"],
                                                 hadoop_checksum.BYTES_PER_CRC,
                                                 self.config.get("trash_interval", 0)), request)

    async def op_getstatus(self, request, params, path, call):
        space = _space(self.registry.describe())
        return json_body(webhdfs.fs_status(space["capacity"], space["used"], space["free"]), request)

    async def op_getquotausage(self, request, params, path, call):
        return json_body(webhdfs.quota_usage(await self.store.content_summary(path, call.checker)), request)

    async def op_getstoragepolicy(self, request, params, path, call):
        await self.store.status(path, call.checker)
        return json_body(webhdfs.storage_policy(), request)

    async def op_getallstoragepolicy(self, request, params, path, call):
        return json_body(webhdfs.storage_policies(), request)

    async def op_setstoragepolicy(self, request, params, path, call):
        name = params.str("storagepolicy", required=True)
        if name.upper() != webhdfs.HOT["name"]:
            raise BadRequest(f"Cannot set storage policy {name}: every dfs block is on DISK, so HOT is the only "
                             "storage policy")
        await self.store.check_access(path, 0, call.checker, op="SETSTORAGEPOLICY")
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_unsetstoragepolicy(self, request, params, path, call):
        await self.store.check_access(path, 0, call.checker, op="UNSETSTORAGEPOLICY")
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_gettrashroot(self, request, params, path, call):
        return json_body({"Path": trash_root(_user(call))}, request)

    async def op_gettrashroots(self, request, params, path, call):
        """The caller's trash root; with ``allusers``, every user's the caller may see (as HDFS's listing would)."""
        user = None if params.bool("allusers") else _user(call)
        return json_body(webhdfs.trash_roots(await self.trash.roots(user, call.checker)), request)

    async def op_expunge(self, request, params, path, call):
        """dfs's extension, `hadoop fs -expunge` done by the namenode for the caller's trash: old checkpoints
        deleted, Current made a checkpoint; ``immediate=true`` empties the trash. Several transactions: not in the
        retry cache (a client operation id is ignored)."""
        call.checker.operation = None
        await self.trash.expunge(trash_root(_user(call)), params.bool("immediate"), call.checker)
        return json_body({"boolean": True}, request)

    async def op_setquota(self, request, params, path, call):
        """Hadoop 3.3's SETQUOTA: ``namespacequota`` and ``storagespacequota``, each kept when absent, removed with
        -1."""
        names = params.int("namespacequota", QUOTA_DONT_SET, minimum=QUOTA_RESET)
        space = params.int("storagespacequota", QUOTA_DONT_SET, minimum=QUOTA_RESET)
        await self.store.set_quota(path, None if names == QUOTA_DONT_SET else names,
                                   None if space == QUOTA_DONT_SET else space, call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_setquotabystoragetype(self, request, params, path, call):
        """A quota by storage type: ``storagespacequota`` bytes (-1 removes it) of ``storagetype`` DISK, the only
        storage type dfs has, counted as the space quota is; any other type is refused."""
        kind = params.str("storagetype", required=True).upper()
        if kind != "DISK":
            raise BadRequest(f"Cannot set a quota by storage type {kind}: every dfs block is on DISK, the only"
                             " storage type with a quota here")
        space = params.int("storagespacequota", required=True, minimum=QUOTA_RESET)
        await self.store.set_quota(path, disk=space, checker=call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    # -- snapshots (namespace.history) ------------------------------------------------------------------------

    async def op_allowsnapshot(self, request, params, path, call):
        await self.store.allow_snapshot(path, call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_disallowsnapshot(self, request, params, path, call):
        await self.store.disallow_snapshot(path, call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_createsnapshot(self, request, params, path, call):
        created = await self.store.create_snapshot(path, params.str("snapshotname") or None, call.checker)
        return json_body({"Path": created}, request)

    async def op_deletesnapshot(self, request, params, path, call):
        await self.store.delete_snapshot(path, params.str("snapshotname", required=True), call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_renamesnapshot(self, request, params, path, call):
        await self.store.rename_snapshot(path, params.str("oldsnapshotname", required=True),
                                         params.str("snapshotname", required=True), call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_getsnapshotdiff(self, request, params, path, call):
        """HDFS's diff from ``oldsnapshotname`` to ``snapshotname`` (either empty: the directory now)."""
        old, new = params.str("oldsnapshotname", ""), params.str("snapshotname", "")
        report = await self.store.snapshot_diff(path, old, new, call.checker)
        return json_body(webhdfs.snapshot_diff(path, old, new, report), request)

    async def op_getsnapshotdifflisting(self, request, params, path, call):
        """One page of the diff (Hadoop 3.3+'s client asks for it between two snapshots): from the entry
        ``snapshotdiffindex`` on (-1, the default: the first page), with the index of the next page's first."""
        old, new = params.str("oldsnapshotname", ""), params.str("snapshotname", "")
        start = max(params.int("snapshotdiffindex", -1, minimum=-1), 0)
        entries, following = await self.store.snapshot_diff_listing(path, old, new, start, call.checker)
        return json_body(webhdfs.snapshot_diff_listing(entries, following), request)

    async def op_getsnapshotlist(self, request, params, path, call):
        return json_body(webhdfs.snapshot_list(await self.store.snapshots(path, call.checker)), request)

    async def op_getsnapshottabledirectorylist(self, request, params, path, call):
        found = await self.store.snapshottable_directories(call.checker)
        return json_body(webhdfs.snapshottable_directories(found), request)

    async def op_restore(self, request, params, path, call):
        """dfs's extension: ``path`` as it was ``at`` a moment (or under a snapshot) made again at ``destination``
        (default: ``path``), sharing the blocks it had."""
        call.dst = params.path("destination", required=False)
        call.inode = await self.store.restore(path, _at(params), call.dst, call.checker)
        return json_body({"boolean": True}, request)

    # -- extended attributes (dfs.namenode.xattrs) ------------------------------------------------------------

    async def op_getxattrs(self, request, params, path, call):
        encoding = xattrs.encoding(params.str("encoding"))
        wanted = [xattrs.check_name(name) for name in _all_values(request, "xattr.name")]
        for name in wanted:
            xattrs.check_readable(name, call.checker)
        found = await self._xattrs(path, params, call, "GETXATTRS")
        if wanted:
            if any(name not in found for name in wanted):
                raise IOFailure("At least one of the attributes provided was not found.")
            found = {name: found[name] for name in wanted}
        return json_body(webhdfs.xattr_values(found, encoding), request)

    async def op_listxattrs(self, request, params, path, call):
        return json_body(webhdfs.xattr_names(await self._xattrs(path, params, call, "LISTXATTRS")), request)

    def _xattrs(self, path, params, call, op):
        """The attributes of ``path`` (under a snapshot, or ``at`` a moment, as they were then)."""
        if _in_the_past(path, params):
            return self.store.past_xattrs(path, _at(params), call.checker, op)
        return self.store.xattrs(path, call.checker, op)

    async def op_setxattr(self, request, params, path, call):
        name = xattrs.check_name(params.str("xattr.name", required=True))
        value = xattrs.decode(params.str("xattr.value"))
        xattrs.check_size(name, value)
        create, replace = xattrs.flags(params.str("flag"))
        await self.store.set_xattr(path, name, value, create, replace, call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_removexattr(self, request, params, path, call):
        await self.store.remove_xattr(path, xattrs.check_name(params.str("xattr.name", required=True)),
                                      call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    # -- ACLs (dfs.namenode.acls) and CHECKACCESS -------------------------------------------------------------

    async def op_getaclstatus(self, request, params, path, call):
        return json_body(webhdfs.acl_status((await self.store.status(path, call.checker)).inode), request)

    async def op_changeacl(self, request, params, path, call):
        """SETACL, MODIFYACLENTRIES, REMOVEACLENTRIES (``aclspec``, without permissions for a removal),
        REMOVEDEFAULTACL and REMOVEACL."""
        op = params.str("op").upper()
        spec = []
        if op in ("SETACL", "MODIFYACLENTRIES", "REMOVEACLENTRIES"):
            spec = acls.parse_spec(params.str("aclspec", required=True), with_perm=op != "REMOVEACLENTRIES")
        call.inode = await self.store.change_acl(path, op, spec, call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    async def op_checkaccess(self, request, params, path, call):
        """200 with no body when the caller has the access ``fsaction`` names (``r-x``), else 403."""
        action = params.str("fsaction", required=True)
        if action not in acls.SYMBOLS:
            raise BadRequest(f'Invalid value for webhdfs parameter "fsaction": Invalid value: "{action}" does not'
                             " belong to the domain [r-][w-][x-]")
        await self.store.check_access(path, acls.SYMBOLS.index(action), call.checker)
        request.setHeader(b"Content-Type", OCTETS)
        return b""

    # -- cluster ----------------------------------------------------------------------------------

    @app.route("/cluster", methods=["GET"])
    async def cluster(self, request):
        self.guard.check(request, NODE, TOKEN)
        return json_body(await self.cluster_status(), request)

    async def cluster_status(self):
        nodes = self.registry.describe()
        totals = {**_space(nodes), "alive": 0, "stale": 0, "dead": 0}
        for node in nodes:
            totals[node["state"]] = totals.get(node["state"], 0) + 1
        totals.update(self.repair.stats)
        totals["safemode"] = self.safemode.on
        totals["files"] = await self.store.count_files()
        totals["held"] = await self._held()
        safemode = self.safemode.describe()
        state, sentence = verdict(nodes, totals, safemode)
        return {
            "cluster_id": self.config["cluster_id"],
            "version": version(),
            "uptime": round(self.registry.clock.seconds() - self.started, 3),
            "metadata_bytes": self.store.disk_usage(),
            "denials": self.access.recent_denials(),
            "replication": self.config["replication"],
            "block_size": self.config["block_size"],
            "verdict": {"state": state, "text": sentence},
            "nodes": nodes,
            "history": self.registry.describe_history(),
            "totals": totals,
            "safemode": safemode,
            "leader_epoch": self.repair.leader_epoch(),
            "backup": self.backups.describe() if self.backups is not None else None,
        }

    async def _superuser(self, request, *accepted):
        """Admit an operator's request to a cluster-wide route (format, safe mode, decommission, fsck) only from
        the superuser, as `hdfs dfsadmin` does."""
        identity = self.guard.check(request, *accepted)
        call = await self.access.call(identity, Params(request), request.getClientAddress().host)
        call.checker.check_superuser()

    async def _held(self):
        """Bytes of blocks kept only to undo: files in trash, blocks only snapshots or the history window hold (one
        replica each; a block in trash and in a snapshot counts in both)."""
        held = await self.store.history_usage()
        held["trash"] = 0
        for root, _ in await self.trash.roots():
            held["trash"] += (await self.store.content_summary(root)).length
        return held

    @app.route("/cluster/history/purge", methods=["POST"])
    async def purge_history(self, request):
        """`dfs admin purge --before TIME`: the history before TIME dropped at once (snapshots keep theirs)."""
        await self._superuser(request, TOKEN)
        params = Params(request)
        if not params.bool("confirm"):
            raise BadRequest("purge drops the history before a moment for good: repeat with confirm=true")
        before = moments.parse(params.str("before", required=True), time.time())
        rows = await self.store.purge_history(before)
        log.warn("history before {before} ms purged ({rows} rows)", before=before, rows=rows)
        return json_body({"rows": rows, "before": before}, request)

    @app.route("/cluster/backup", methods=["POST"])
    async def take_backup(self, request):
        """`dfs admin backup`: a backup of the namespace now, into --backup-dir; what ``Backups.last`` says."""
        await self._superuser(request, TOKEN)
        if self.backups is None:
            raise BadRequest("this namenode keeps no backups: start it with --backup-dir (SQLite only; back up"
                             " PostgreSQL with its own tools)")
        return json_body(await self.backups.take(), request)

    @app.route("/cluster/balance", methods=["GET"])
    def balance_progress(self, request):
        """How the latest balancer run goes: its state, moves done and left, bytes moved, each node's
        utilization."""
        self.guard.check(request, NODE, TOKEN)
        return json_body(self.balancer.describe(), request)

    @app.route("/cluster/balance", methods=["POST"])
    async def balance(self, request):
        """`dfs balance`: start moving replicas toward the mean utilization (the run under way is kept);
        ``action=stop`` stops it after the move it is making."""
        await self._superuser(request, TOKEN)
        params = Params(request)
        if params.str("action", "start").lower() == "stop":
            return json_body(self.balancer.stop(), request)
        threshold = _positive(params, "threshold", DEFAULT_THRESHOLD)
        return json_body(self.balancer.start(threshold, _positive(params, "bandwidth", DEFAULT_BANDWIDTH)),
                         request)

    @app.route("/cluster/datanodes", methods=["POST"])
    async def register(self, request):
        """A datanode joins, or joins again. One of the previous release lists its blocks here; a current one
        sends them next, in pieces (``block_report``), when the protocol version agreed allows it (dfs.protocol)."""
        self.guard.check(request, NODE)
        body = read_json(request)
        try:
            node_id = paths.check_name(str(body["id"]))
            speaks = protocol.admit(node_id, body)
            cluster_id = body.get("cluster_id")
            if cluster_id and cluster_id != self.config["cluster_id"]:
                raise IOFailure(f"datanode {node_id} belongs to cluster {cluster_id}, this is {self.config['cluster_id']}")
            blocks = [str(b) for b in body["blocks"]] if "blocks" in body else None
            node = self.registry.register(
                node_id, str(body["url"]).rstrip("/"), str(body.get("public_url") or body["url"]).rstrip("/"),
                int(body["capacity"]), int(body["used"]), int(body["free"]), blocks,
                version=str(body["version"])[:64] if body.get("version") else None,
                mark=_mark(body), filesystem=_filesystem(body), rack=_rack(body),
                failed_volumes=int(body.get("failed_volumes", 0)), protocol=speaks,
            )
        except (KeyError, ValueError, TypeError) as e:
            raise BadRequest(f"bad registration: {e!r}") from None
        await self.safemode.remember(node.id, node.url)
        if blocks is not None:
            self.safemode.reported(node.id, blocks)
        return json_body({"cluster_id": self.config["cluster_id"], protocol.FIELD: node.protocol}, request)

    @app.route("/cluster/datanodes/<node_id>/heartbeat", methods=["PUT"])
    async def heartbeat(self, request, node_id):
        """A datanode is alive; it tells the blocks it received and deleted (or lost) since its last beat, each
        applied at once. The answer asks for a full report while none is complete since it registered."""
        self.guard.check(request, NODE)
        body = read_json(request)
        try:
            node = self.registry.heartbeat(node_id, int(body["capacity"]), int(body["used"]), int(body["free"]),
                                           _mark(body), _filesystem(body), _rack(body),
                                           int(body.get("failed_volumes", 0)))
            for block_id in body.get("received", ()):  # stored since its last beat, maybe by another namenode
                self.registry.add_replica(str(block_id), node_id)
            for block_id in body.get("deleted", ()):
                self.registry.remove_replica(str(block_id), node_id)
        except (KeyError, ValueError, TypeError) as e:
            raise BadRequest(f"bad heartbeat: {e!r}") from None
        return json_body({"cluster_id": self.config["cluster_id"], "full_report": node.last_report is None},
                         request)

    @app.route("/cluster/datanodes/<node_id>/blocks", methods=["PUT"])
    async def block_report(self, request, node_id):
        """A full block report: with a ``report`` id, one piece of it (``blockreports``' encoding; docs/architecture
        tells the wire format); without, all of it as a JSON list, as the previous release sends it."""
        self.guard.check(request, NODE)
        params = Params(request)
        report_id = params.str("report")
        if report_id is None:
            body = read_json(request)
            if not isinstance(body.get("blocks"), list):
                raise BadRequest("a block report needs a list of blocks")
            blocks = [str(b) for b in body["blocks"]]
            self.registry.report(node_id, blocks)
            self.safemode.reported(node_id, blocks)
            return json_body({"blocks": len(blocks)}, request)
        pieces = params.int("pieces", required=True, minimum=1, maximum=MAX_REPORT_PIECES)
        piece = params.int("piece", required=True, minimum=0, maximum=pieces - 1)
        blocks = blockreports.decode(request.content.read())
        complete = await in_steps(self.repair.cooperator,
                                  self.registry.report_piece_steps(node_id, report_id[:64], piece, pieces, blocks))
        self.safemode.seen(blocks)
        if complete:
            self.safemode.reported(node_id)
        return json_body({"blocks": len(blocks), "complete": complete}, request)

    @app.route("/cluster/datanodes/<node_id>/corrupt", methods=["POST"])
    async def corrupt_report(self, request, node_id):
        self.guard.check(request, NODE)
        blocks = read_json(request).get("blocks")
        if not isinstance(blocks, list):
            raise BadRequest("a corrupt-block report needs a list of blocks")
        self.registry.get(node_id)
        for block_id in blocks:
            self.registry.report_corrupt(node_id, str(block_id))
        self.repair.kick()
        return json_body({"blocks": len(blocks)}, request)

    @app.route("/cluster/datanodes/<node_id>/decommission", methods=["POST"])
    async def decommission(self, request, node_id):
        await self._superuser(request, TOKEN)
        node = self.registry.decommission(node_id, cancel=Params(request).bool("cancel"))
        self.repair.kick()
        return json_body(node.describe(self.registry.clock.seconds()), request)

    @app.route("/cluster/datanodes/<node_id>/maintenance", methods=["POST"])
    async def maintenance(self, request, node_id):
        """`dfs maintenance NODE --for 1h` (``for``: seconds) or ``--end`` (``end=true``), kept in the database so
        that every namenode, and a restarted one, knows it."""
        await self._superuser(request, TOKEN)
        params = Params(request)
        until = None if params.bool("end") else (
            self.registry.clock.seconds() + params.int("for", required=True, minimum=1))
        node = self.registry.set_maintenance(node_id, until)  # refused here first: a decommissioning node
        await self.store.set_maintenance(node_id, until)
        self.repair.kick()
        return json_body(node.describe(self.registry.clock.seconds()), request)

    @app.route("/cluster/safemode", methods=["GET"])
    def safemode_state(self, request):
        self.guard.check(request, NODE, TOKEN)
        return json_body(self.safemode.describe(), request)

    @app.route("/cluster/safemode", methods=["POST"])
    async def safemode_action(self, request):
        """`dfs safemode enter|leave`, as `hdfs dfsadmin -safemode`: an operator holds safe mode or ends it."""
        await self._superuser(request, TOKEN)
        action = Params(request).str("action", required=True).lower()
        if action == "enter":
            self.safemode.enter()
        elif action == "leave":
            self.safemode.leave()
        else:
            raise BadRequest(f"safe mode action must be enter or leave, not {action!r}")
        return json_body(self.safemode.describe(), request)

    @app.route("/cluster/format", methods=["POST"])
    async def format(self, request):
        await self._superuser(request, TOKEN)
        params = Params(request)
        if params.str("confirm") != self.config["cluster_id"] and not params.bool("confirm"):
            raise BadRequest("format wipes every file: repeat with confirm=true (or confirm=<cluster id>)")
        await self.store.format()
        await self.repair.wipe_datanodes()
        log.warn("the namespace was formatted")
        return json_body({"boolean": True}, request)

    @app.route("/cluster/fsck", methods=["GET"])
    async def fsck(self, request):
        """Every path, block id and holder under a path: the superuser's, as in HDFS (a block id read here would
        let its reader fetch the block from a datanode)."""
        await self._superuser(request, NODE, TOKEN)
        params = Params(request)
        return json_body(await self.repair.fsck(params.path("path", required=False) or "/"), request)

    @app.route("/health", methods=["GET"])
    def health(self, request):
        return json_body({"status": "ok", "role": "namenode"}, request)

    # -- observability ------------------------------------------------------------------------------

    @app.route("/", methods=["GET"])
    def index(self, request):
        return pages.asset(request, "namenode.html")

    @app.route("/static/<name>", methods=["GET"])
    def static_asset(self, request, name):
        return pages.asset(request, name)

    @app.route("/metrics", methods=["GET"])
    async def metrics(self, request):
        self.guard.check(request, NODE, TOKEN)
        return await self.telemetry.render(request)
