"""The datanode's HTTP surface: block upload, static block serving, peer copies, and WebHDFS reads it was redirected to."""

import errno
import hashlib
import os
import re

from klein import Klein
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from werkzeug.routing import BaseConverter

from dfs import chunks, hadoop_checksum, pages
from dfs import extents as file_extents
from dfs.datanode.blockstore import BlockSink, check_block_id
from dfs.errors import (BadGateway, BadRequest, Corrupt, DFSError, FileNotFound, IOFailure, NoSpace,
                        RangeNotSatisfiable, from_remote)
from dfs.http import UNREACHABLE
from dfs.metrics import DatanodeMetrics
from dfs.security import NODE, RANGE_PARAMS, SIGNED_URL, TOKEN, Guard
from dfs.streams import RequestWriter, relay_body
from dfs.web import OCTETS, SHA256, HotRoute, Params, checksum_json, json_body, read_json, render_error, request_path

log = Logger()

PREFIX = b"/webhdfs/v1"
# Reads of at most this many bytes are read and checked on the reactor: a trip to a thread would cost more.
INLINE_READ = 2 * chunks.CHUNK_SIZE
# Bytes read and checked per trip to a disk thread: large enough that the trips cost little next to the copying.
READ_STEP = 4 << 20
ID_BYTES = 32  # a block id as the raw SHA-256 digest it names: half the size of its hex
MAX_DELETE_BATCH = 10_000  # block ids in one POST /blocks/delete
BLOCK_PATH = re.compile(rb"/blocks/([0-9a-f]{64})")  # a block's bytes (serve_block), routed without Klein


class BlockIdConverter(BaseConverter):
    """Only 64 lowercase hex characters match, so no handler ever sees a malformed block id."""

    regex = "[0-9a-f]{64}"


class DatanodeApp:
    app = Klein()
    app.url_map.converters["block"] = BlockIdConverter

    def __init__(self, store, datanodes, reactor, pool, namenode, guard=None):
        """``datanodes`` (a dfs.peers.DatanodeClient) reaches peers, ``namenode`` (a dfs.peers.NamenodeClient, or a
        list of them, asked in turn) the namenode."""
        self.guard = guard or Guard()
        self.store = store
        self.datanodes = datanodes
        self.reactor = reactor
        self.pool = pool
        self.namenodes = namenode if isinstance(namenode, list) else [namenode]
        self.node_id = None
        self.own_url = None
        self.report_corrupt = _nobody_listens
        self.scrubber = None
        self.telemetry = DatanodeMetrics(self.node_status)

    def resource(self):
        """Klein's routes, the batches of small blocks (a namenode's small-file writes) and the WebHDFS reads taken
        first without Klein's routing."""
        batches = HotRoute(self.app.resource(), b"/blocks/batch", (b"PUT",), self.upload_batch, self.errors)
        blocks = HotRoute(batches, BLOCK_PATH, (b"GET", b"HEAD"), self.serve_block, self.errors)
        return HotRoute(blocks, PREFIX + b"/", (b"GET", b"HEAD"), self.webhdfs, self.errors)

    def in_thread(self, fn, *args):
        return deferToThreadPool(self.reactor, self.pool, fn, *args)

    @staticmethod
    def is_upload(method, target):
        """Whether a request's body is block data, for the HTTP limits (dfs.limits) that see it before routing."""
        return method == b"PUT" and target.partition(b"?")[0] == b"/blocks/upload"

    @app.handle_errors(Exception)
    def errors(self, request, failure):
        if failure.check(OSError) and failure.value.errno in (errno.ENOSPC, errno.EDQUOT):
            self.store.mark_full()  # report no free space until some is freed, so no new blocks come here
            failure = Failure(NoSpace(f"datanode {self.node_id} is out of space"))
        return render_error(request, failure)

    # -- blocks -------------------------------------------------------------------------------------

    @app.route("/blocks/upload", methods=["PUT"])
    async def upload(self, request):
        self.guard.check(request, NODE)
        sink = request.content
        if not isinstance(sink, BlockSink) or sink.length == 0:
            raise BadRequest("a block upload needs a non-empty body")
        block_id, length = await self.in_thread(self.store.commit_sync, sink)
        return json_body({"id": block_id, "length": length}, request, 201)

    @app.route("/blocks/batch", methods=["PUT"])
    async def upload_batch(self, request):
        """Several small blocks in one body, cut by ``lengths``; all durable before the answer, in order."""
        self.guard.check(request, NODE)
        lengths = _batch_lengths(Params(request).str("lengths", required=True))
        request.content.seek(0)
        stored = await self.in_thread(self.store.commit_many_sync, request.content, lengths)
        return json_body({"blocks": [{"id": block_id, "length": length} for block_id, length in stored]},
                         request, 201)

    async def serve_block(self, request, block_id):
        """GET or HEAD /blocks/<id> (BLOCK_PATH): a block, or the one byte range of it a ``Range`` header names;
        no chunk leaves unchecked."""
        self.guard.check(request, NODE, TOKEN, SIGNED_URL)
        size = self.store.size_of(block_id) if self.store.has(block_id) else 0
        if not size:
            raise FileNotFound(f"block {block_id} is not on this datanode")
        request.setHeader(b"ETag", f'"{block_id}"'.encode())
        request.setHeader(b"Cache-Control", b"public, max-age=31536000, immutable")
        request.setHeader(b"Accept-Ranges", b"bytes")
        try:
            span = byte_range(request.getHeader(b"range"), size)
        except RangeNotSatisfiable:
            request.setHeader(b"Content-Range", f"bytes */{size}".encode())
            raise
        first, count = span or (0, size)

        async def send(start, write):
            if span is not None:
                request.setResponseCode(206)
                request.setHeader(b"Content-Range", f"bytes {first}-{first + count - 1}/{size}".encode())
            start(count)
            if request.method == b"HEAD":
                return
            if await self._send_local(block_id, first, count, write) < count:
                raise Corrupt(f"block {block_id} failed its checksums on this datanode")

        return await self._respond(request, send)

    @app.route("/blocks/<block:block_id>/checksums", methods=["GET"])
    async def block_checksums(self, request, block_id):
        """The block's chunk checksums (dfs.chunks' form), for clients that check just the chunks they read."""
        self.guard.check(request, NODE, TOKEN, SIGNED_URL)
        if not self.store.has(block_id):
            raise FileNotFound(f"block {block_id} is not on this datanode")
        data = await self.in_thread(self.store.chunk_sums_sync, block_id)
        request.setHeader(b"Content-Type", OCTETS)
        request.setHeader(b"Cache-Control", b"public, max-age=31536000, immutable")
        return data

    @app.route("/blocks/<block:block_id>/md5crc", methods=["GET"])
    async def block_md5crc(self, request, block_id):
        """HDFS's block checksum (dfs.hadoop_checksum) of bytes [start, start+count) of a local block, its chunks
        checked as every read's are: the namenode combines these into a file's MD5-of-MD5-of-CRC32C."""
        self.guard.check(request, NODE)
        params = Params(request)
        start = params.int("start", required=True, minimum=0)
        count = params.int("count", required=True, minimum=1)
        if not self.store.has(block_id) or start + count > self.store.size_of(block_id):
            raise FileNotFound(f"bytes {start}+{count} of block {block_id} are not on this datanode")
        digest = hadoop_checksum.BlockDigest()

        async def add(data):
            await self.in_thread(digest.update, data)

        if await self._send_local(block_id, start, count, add) < count:
            raise Corrupt(f"block {block_id} failed its checksums on this datanode")
        return json_body({"md5": digest.digest().hex(), "chunks": digest.chunks}, request)

    @app.route("/blocks/<block:block_id>", methods=["DELETE"])
    async def delete_block(self, request, block_id):
        self.guard.check(request, NODE)
        params = Params(request)
        length = await self.in_thread(self.store.delete_sync, block_id, params.str("unless_stored_after") or None,
                                      params.int("epoch", None))
        log.info("deleted block {block}", block=block_id)
        return json_body({"id": block_id, "length": length}, request)

    @app.route("/blocks/delete", methods=["POST"])
    async def delete_blocks(self, request):
        """Delete many blocks under one mark and epoch (GC's batches): the body is their ids as raw 32-byte
        digests, back to back, and the signed ``ids`` parameter is its SHA-256, so the signature covers the list."""
        self.guard.check(request, NODE)
        params = Params(request)
        request.content.seek(0)
        body = request.content.read(MAX_DELETE_BATCH * ID_BYTES + 1)
        if len(body) % ID_BYTES or len(body) > MAX_DELETE_BATCH * ID_BYTES:
            raise BadRequest(f"the body must be at most {MAX_DELETE_BATCH} block ids of {ID_BYTES} bytes each")
        if hashlib.sha256(body).hexdigest() != params.str("ids", required=True):
            raise BadRequest("the body does not match its digest (ids)")
        block_ids = [body[at:at + ID_BYTES].hex() for at in range(0, len(body), ID_BYTES)]
        outcome = await self.in_thread(self.store.delete_many_sync, block_ids,
                                       params.str("unless_stored_after", required=True), params.int("epoch", None))
        log.info("deleted {count} of {asked} blocks ({kept} kept, stored since the mark)",
                 count=len(block_ids) - len(outcome["kept"]) - len(outcome["missing"]), asked=len(block_ids),
                 kept=len(outcome["kept"]))
        return json_body(outcome, request)

    @app.route("/blocks/<block:block_id>/fetch", methods=["POST"])
    async def fetch_block(self, request, block_id):
        """Copy a block from a peer (re-replication); verified against its id before it counts."""
        self.guard.check(request, NODE)
        copied = await self._fetch(_source(request), block_id)
        return json_body(copied, request, 201 if copied["copied"] else 200)

    @app.route("/blocks/fetch", methods=["POST"])
    async def fetch_blocks(self, request):
        """Copy several blocks from one peer, one after another (re-replication of small blocks); the answer says
        per block whether this node holds it now, or why not."""
        self.guard.check(request, NODE)
        source = _source(request)
        block_ids = read_json(request).get("blocks")
        if not isinstance(block_ids, list) or not block_ids:
            raise BadRequest("a batch fetch needs a non-empty list of blocks")
        answers = []
        for block_id in block_ids:
            try:
                answers.append(await self._fetch(source, check_block_id(str(block_id))))
            except Exception as e:
                answers.append({"id": block_id, "error": str(e)})
        return json_body({"blocks": answers}, request)

    async def _fetch(self, source, block_id):
        """Copy ``block_id`` from the datanode at ``source`` unless it is here already."""
        if await self.in_thread(self.store.confirm, block_id):
            return {"id": block_id, "copied": False}
        try:
            response = await self.datanodes.read(source, block_id)
        except UNREACHABLE as e:
            raise BadGateway(f"cannot reach the source {source}: {e}") from None
        if response.code != 200:
            await response.content()
            raise IOFailure(f"peer {source} answered {response.code} for block {block_id}")
        tmp_path = self.store.new_incoming_path()
        with open(tmp_path, "wb") as tmp:
            async def write(data):
                tmp.write(data)
            try:
                await relay_body(response, write)
            except BaseException as e:
                tmp.close()
                os.unlink(tmp_path)
                if isinstance(e, UNREACHABLE):
                    raise BadGateway(f"the source {source} failed during the copy: {e}") from None
                raise
        length = await self.in_thread(self.store.store_verified_sync, block_id, tmp_path)
        return {"id": block_id, "copied": True, "length": length}

    @app.route("/blocks", methods=["GET"])
    def block_report(self, request):
        self.guard.check(request, NODE)
        return json_body({"blocks": sorted(self.store.block_ids), **self.store.usage()}, request)

    @app.route("/blocks/format", methods=["POST"])
    async def format(self, request):
        self.guard.check(request, NODE)
        await self.in_thread(self.store.wipe_sync)
        log.warn("all blocks dropped: the namespace was formatted")
        return json_body({"boolean": True}, request)

    # -- WebHDFS reads the namenode redirected here -------------------------------------------------

    @app.route("/webhdfs/v1/", branch=True, methods=["GET"])
    async def webhdfs(self, request):
        self.guard.check(request, SIGNED_URL, NODE, free=RANGE_PARAMS)
        params = Params(request)
        op = params.str("op", required=True).upper()
        path = request_path(request, PREFIX)
        if op == "OPEN":
            return await self.open(request, params, path)
        if op == "GETFILECHECKSUM":
            extents, replicas = await self._file_version(params, path)
            hasher = hashlib.sha256()

            async def digest(data):
                hasher.update(data)

            for block_id, block_start, count in file_extents.pieces(extents, 0, file_extents.size(extents)):
                await self._send_piece(block_id, block_start, count, digest, replicas)
            return json_body(checksum_json(SHA256, hasher.digest()), request)
        raise BadRequest(f"Invalid operation {op}")

    async def open(self, request, params, path):
        """Bytes [offset, offset+length) of the file version the URL names, whatever offset and length it
        carries now: clients seek by sending the redirect's URL again with new ones."""
        offset = params.int("offset", 0, minimum=0)
        length = params.int("length", None, minimum=0)
        extents, replicas = await self._file_version(params, path)
        end = file_extents.clamp(offset, length, file_extents.size(extents))

        async def send(start, write):
            start(max(0, end - offset))
            for block_id, block_start, count in file_extents.pieces(extents, offset, end):
                await self._send_piece(block_id, block_start, count, write, replicas)

        return await self._respond(request, send)

    async def _respond(self, request, send):
        """Answer with what ``await send(start, write)`` produces: ``start(size)`` sets the headers, ``write``
        sends bytes. A failure before the first byte is answered as an error; after it the connection is cut,
        so the client sees an incomplete body, never a wrong one."""
        writer = None

        def start(size):
            nonlocal writer
            request.setHeader(b"Content-Type", OCTETS)
            request.setHeader(b"Content-Length", str(size).encode())
            writer = RequestWriter(request)

        async def write(data):
            await writer.write(data)

        try:
            await send(start, write)
        except Exception as e:
            if writer is not None:
                writer.close()
            if writer is None or not request.startedWriting:
                request.responseHeaders.removeHeader(b"Content-Length")
                request.responseHeaders.removeHeader(b"Content-Range")
                raise
            if not isinstance(e, ConnectionDone):
                log.warn("read of {path} failed mid-stream: {e}", path=request.path, e=e)
            request.channel.transport.abortConnection()
            return None
        writer.close()
        return b""

    async def _file_version(self, params, path):
        """The extents of the file version a read URL names (its ``blocks=``, or the namenode's answer checked
        against its ``version=``), and ``async replicas(block_id)``: the other datanodes holding a block."""
        located = {}

        async def replicas(block_id):
            if not located:
                located.update(_replica_urls((await self._locations(path))[0]))
            return located.get(block_id, [])

        named = params.str("blocks")
        if named is not None:
            return file_extents.decode(named), replicas
        locations, length = await self._locations(path)
        located.update(_replica_urls(locations))
        for loc in locations:
            check_block_id(loc["blockId"])
        extents = file_extents.with_gaps(locations, length)
        version = params.str("version")
        if version is not None and version != file_extents.version(extents):
            raise FileNotFound(f"{path} changed since this URL was made: open it again")
        return extents, replicas

    async def _locations(self, path):
        """The namenode's BlockLocation list for the whole of ``path`` and the file's length, from the first
        namenode that answers."""
        for namenode in self.namenodes:
            try:
                response = await namenode.block_locations(path)
                break
            except UNREACHABLE:
                if namenode is self.namenodes[-1]:
                    raise
        answer = await response.json()
        if response.code != 200:
            raise from_remote(response.code, answer)
        return answer["BlockLocations"]["BlockLocation"], answer["BlockLocations"]["fileLength"]

    async def _send_piece(self, block_id, start, count, write, replicas):
        """Send bytes of one block: from the local copy while its chunks check out, the rest from peers; or the
        zeros of a hole (no block), from no disk and no peer."""
        if block_id is None:
            for zeros in file_extents.zeros(count):
                await write(zeros)
            return
        sent = await self._send_local(block_id, start, count, write) if self.store.has(block_id) else 0
        if sent < count:
            urls = [url for url in await replicas(block_id) if url != self.own_url]
            await self._send_from_peers(block_id, start + sent, count - sent, write, urls)

    async def _send_local(self, block_id, start, count, write):
        """Send bytes [start, start+count) of a local block, each chunk checked first. Returns how many went out
        before a bad chunk (its copy quarantined and reported) or a vanished file stopped it."""
        end, position = start + count, start
        pending = self._read_local(block_id, position, min(READ_STEP, count))
        try:
            while position < end:
                try:
                    data = await pending
                except Corrupt:
                    log.warn("block {block} failed its chunk checksums", block=block_id)
                    await self.report_corrupt([block_id])
                    return position - start
                except FileNotFound:
                    return position - start
                position += len(data)
                # Read and check the next piece while this one goes out.
                pending = self._read_local(block_id, position, min(READ_STEP, end - position)) if position < end else None
                await write(data)
        finally:
            if pending is not None:
                pending.addErrback(lambda _: None)
        return count

    def _read_local(self, block_id, start, count):
        """Small reads that the page cache holds and whose chunks check out are answered on the reactor (a thread
        trip costs more than the read); the rest, the reads that would wait for the disk, and the whole-block
        check a mismatch calls for go to a disk thread."""
        if count <= INLINE_READ:
            try:
                data = self.store.read_checked_sync(block_id, start, count, cached_only=True)
            except FileNotFound as e:
                return defer.fail(e)
            except BlockingIOError:
                data = None
            if data is not None:
                return defer.succeed(data)
        return self.in_thread(self.store.read_verified_sync, block_id, start, count)

    async def _send_from_peers(self, block_id, start, count, write, urls):
        """Send bytes of a block from the first peers that serve them (each checks its chunks before it sends
        them); a peer that stops midway is followed by the next one from where it stopped."""
        errors, sent = [], 0
        for url in urls:
            response = None
            try:
                response = await self.datanodes.read(url, block_id, start + sent, count - sent)
                if response.code != 206:
                    raise IOFailure(f"peer answered {response.code}")
            except Exception as e:
                if response is not None:
                    response.deliverBody(_Discard())
                errors.append(f"{url}: {e}")
                continue
            relay = _limited(write, count - sent)
            try:
                await relay_body(response, relay)
            except (DFSError, ConnectionDone):
                raise
            except Exception as e:
                errors.append(f"{url}: {e}")
            sent = count - relay.remaining
            if sent == count:
                return
        raise IOFailure(f"no replica of block {block_id} could be read: {'; '.join(errors) or 'no live replica'}")

    @app.route("/health", methods=["GET"])
    def health(self, request):
        return json_body({"status": "ok", "role": "datanode", "id": self.node_id, **self.store.usage()}, request)

    # -- observability ------------------------------------------------------------------------------

    def node_status(self):
        """What this node's page and metrics show: its blocks, its disk and the scrubber's progress."""
        scrubber = None if self.scrubber is None else dict(self.scrubber.stats, rate=self.scrubber.rate)
        return {"id": self.node_id, "namenode": ",".join(n.url for n in self.namenodes), "root": self.store.root,
                "volumes": [{"root": v.root, "failed": v.failed} for v in self.store.volumes],
                "blocks": len(self.store.block_ids), **self.store.usage(), "scrubber": scrubber}

    @app.route("/", methods=["GET"])
    def index(self, request):
        return pages.asset(request, "datanode.html")

    @app.route("/static/<name>", methods=["GET"])
    def static_asset(self, request, name):
        return pages.asset(request, name)

    @app.route("/status", methods=["GET"])
    def status(self, request):
        self.guard.check(request, NODE, TOKEN)
        return json_body(self.node_status(), request)

    @app.route("/metrics", methods=["GET"])
    async def metrics(self, request):
        self.guard.check(request, NODE, TOKEN)
        return await self.telemetry.render(request)


class _limited:
    """A write that passes on at most ``count`` bytes (a peer must not send more than the range)."""

    def __init__(self, write, count):
        self.write = write
        self.remaining = count

    async def __call__(self, data):
        if len(data) > self.remaining:
            raise DFSError("peer sent more than the requested range")
        self.remaining -= len(data)
        await self.write(data)


def _replica_urls(locations):
    """{block id: internal URLs of its live replicas} from a BlockLocation list."""
    return {loc["blockId"]: loc.get("internalUrls", []) for loc in locations}


def byte_range(header, size):
    """(start, count) that a ``Range`` header of one range asks for, None for the whole block (no header, or one
    that is not a single byte range), or RangeNotSatisfiable."""
    if header is None:
        return None
    unit, _, spec = header.decode("latin-1").strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash or "," in spec:
        return None
    try:
        if not first.strip():
            start = max(0, size - int(last))
            end = size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last.strip() else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"bytes {spec} are not in a block of {size} bytes")
    return start, end - start


class _Discard(Protocol):
    """Drops an unwanted response body without reading it."""

    def connectionMade(self):
        self.transport.stopProducing()


async def _nobody_listens(block_ids):
    """Stands in for the namenode link until the datanode has one."""


def _source(request):
    """The datanode a copy reads from: a ``source`` URL."""
    source = Params(request).str("source", required=True).rstrip("/")
    if not source.startswith(("http://", "https://")):
        raise BadRequest("source must be a datanode URL")
    return source


def _batch_lengths(text):
    try:
        lengths = [int(part) for part in text.split(",")]
    except ValueError:
        raise BadRequest("lengths is a comma-separated list of block sizes") from None
    if not lengths or min(lengths) <= 0:
        raise BadRequest("every block of a batch has at least one byte")
    return lengths

