"""The datanode's HTTP surface: block upload, static block serving, peer copies, and WebHDFS reads it was redirected to."""

import errno
import hashlib
import os
import sys
import uuid
from urllib.parse import quote

from klein import Klein
from twisted.internet.protocol import Protocol
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import static
from werkzeug.routing import BaseConverter

from dfs import pages
from dfs.datanode.blockstore import BlockSink, check_block_id
from dfs.errors import BadRequest, Corrupt, DFSError, FileNotFound, IOFailure, NoSpace, from_remote
from dfs.metrics import DatanodeMetrics
from dfs.security import NODE, SIGNED_URL, TOKEN, Guard
from dfs.streams import CHUNK, RequestWriter, copy_file_range, relay_body
from dfs.web import OCTETS, Params, checksum_json, json_body, render_error, request_path

log = Logger()

PREFIX = b"/webhdfs/v1"
# A datanode reading a range for a WebHDFS client asks the peer to check the block's hash before serving it.
VERIFY_HEADER = "X-DFS-Verify"


class BlockIdConverter(BaseConverter):
    """Only 64 lowercase hex characters match, so no handler ever sees a malformed block id."""

    regex = "[0-9a-f]{64}"


class DatanodeApp:
    app = Klein()
    app.url_map.converters["block"] = BlockIdConverter

    def __init__(self, store, http, reactor, pool, namenode_url, namenode_headers=dict, guard=None):
        self.guard = guard or Guard()
        self.store = store
        self.http = http
        self.reactor = reactor
        self.pool = pool
        self.namenode_url = namenode_url.rstrip("/")
        self.namenode_headers = namenode_headers
        self.node_id = None
        self.own_url = None
        self.report_corrupt = _nobody_listens
        self.scrubber = None
        self.telemetry = DatanodeMetrics(self.node_status)

    def resource(self):
        return self.app.resource()

    def in_thread(self, fn, *args):
        return deferToThreadPool(self.reactor, self.pool, fn, *args)

    @staticmethod
    def is_upload(method, target):
        """Whether a request's body is block data, for the HTTP limits (dfs.limits) that see it before routing."""
        return method == b"PUT" and target.partition(b"?")[0] == b"/blocks/upload"

    @app.handle_errors(Exception)
    def errors(self, request, failure):
        if failure.check(OSError) and failure.value.errno in (errno.ENOSPC, errno.EDQUOT):
            self.store.full = True  # report no free space until the next scan, so no new blocks come here
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

    @app.route("/blocks/<block:block_id>", methods=["GET", "HEAD"])
    async def serve_block(self, request, block_id):
        self.guard.check(request, NODE, TOKEN, SIGNED_URL)
        path = self.store.path(block_id)
        verify = request.getHeader(VERIFY_HEADER) is not None
        if not os.path.exists(path) or verify and not await self._verified(block_id):
            raise FileNotFound(f"block {block_id} is not on this datanode")
        request.setHeader(b"ETag", f'"{block_id}"'.encode())
        request.setHeader(b"Cache-Control", b"public, max-age=31536000, immutable")
        return static.File(path, defaultType="application/octet-stream")

    async def _verified(self, block_id):
        """Check a local copy before handing it to a peer that cannot check a range itself."""
        if self.store.verified_before(block_id) or await self.in_thread(self.store.verify_sync, block_id):
            return True
        await self.report_corrupt([block_id])
        return False

    @app.route("/blocks/<block:block_id>", methods=["DELETE"])
    async def delete_block(self, request, block_id):
        self.guard.check(request, NODE)
        length = await self.in_thread(self.store.delete_sync, block_id,
                                      Params(request).str("unless_stored_after") or None)
        log.info("deleted block {block}", block=block_id)
        return json_body({"id": block_id, "length": length}, request)

    @app.route("/blocks/<block:block_id>/fetch", methods=["POST"])
    async def fetch_block(self, request, block_id):
        """Copy a block from a peer (re-replication); verified against its id before it counts."""
        self.guard.check(request, NODE)
        if await self.in_thread(self.store.confirm, block_id):
            return json_body({"id": block_id, "copied": False}, request)
        source = Params(request).str("source", required=True).rstrip("/")
        if not source.startswith(("http://", "https://")):
            raise BadRequest("source must be a datanode URL")
        response = await self.http.get(f"{source}/blocks/{block_id}", headers=self.namenode_headers(),
                                       unbuffered=True)
        if response.code != 200:
            await response.content()
            raise IOFailure(f"peer {source} answered {response.code} for block {block_id}")
        tmp_path = os.path.join(self.store.incoming, uuid.uuid4().hex)
        with open(tmp_path, "wb") as tmp:
            async def write(data):
                tmp.write(data)
            try:
                await relay_body(response, write)
            except BaseException:
                tmp.close()
                os.unlink(tmp_path)
                raise
        length = await self.in_thread(self.store.store_verified_sync, block_id, tmp_path)
        return json_body({"id": block_id, "copied": True, "length": length}, request, 201)

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
        self.guard.check(request, SIGNED_URL, NODE)
        params = Params(request)
        op = params.str("op", required=True).upper()
        path = request_path(request, PREFIX)
        if op == "OPEN":
            return await self.open(request, params, path)
        if op == "GETFILECHECKSUM":
            hasher = hashlib.sha256()

            async def digest(data):
                hasher.update(data)

            await self._read_range(path, 0, None, lambda size: None, digest)
            return json_body(checksum_json(hasher.hexdigest()), request)
        raise BadRequest(f"Invalid operation {op}")

    async def open(self, request, params, path):
        offset = params.int("offset", 0, minimum=0)
        length = params.int("length", None, minimum=0)
        writer = None

        def start(size):
            nonlocal writer
            request.setHeader(b"Content-Type", OCTETS)
            request.setHeader(b"Content-Length", str(size).encode())
            writer = RequestWriter(request)

        async def write(data):
            await writer.write(data)

        try:
            if not await self._read_local_pieces(params, start, write):
                await self._read_range(path, offset, length, start, write)
        except Exception:
            if writer is None or not request.startedWriting:
                if writer is not None:
                    writer.close()
                    request.responseHeaders.removeHeader(b"Content-Length")
                raise
            # Headers are gone; cutting the connection short is how the client learns the body is incomplete.
            log.warn("read of {path} failed mid-stream: {e}", path=path, e=sys.exc_info()[1])
            request.channel.transport.abortConnection()
            return None
        writer.close()
        return b""

    async def _read_local_pieces(self, params, start, write):
        """Serve a read whose block ranges the namenode put in the (signed) redirect, when every block is here
        and checks out: no lookup round trip. False when the namenode must be asked after all."""
        pieces = parse_pieces(params.str("blocks"))
        if not pieces or not all(self.store.has(block_id) for block_id, _, _ in pieces):
            return False
        for block_id in {block_id for block_id, _, _ in pieces}:
            if not await self._verified(block_id):
                return False
        start(sum(count for _, _, count in pieces))
        for block_id, block_start, count in pieces:
            with open(self.store.path(block_id), "rb") as source:
                await copy_file_range(source, block_start, count, write, CHUNK)
        return True

    async def _read_range(self, path, offset, length, start, write):
        """Look up the extents of ``path`` and send bytes [offset, offset+length) to ``write``, block by block."""
        query = {"op": "GETFILEBLOCKLOCATIONS", "offset": str(offset)}
        if length is not None:
            query["length"] = str(length)
        response = await self.http.get(f"{self.namenode_url}/webhdfs/v1{quote(path)}", params=query,
                                       headers=self.namenode_headers())
        answer = await response.json()
        if response.code != 200:
            raise from_remote(response.code, answer)
        locations = answer["BlockLocations"]
        file_length = locations.get("fileLength", 0)
        end = file_length if length is None else min(file_length, offset + length)
        start(max(0, end - offset))
        for loc in locations["BlockLocation"]:
            first = max(offset, loc["offset"])
            last = min(end, loc["offset"] + loc["length"])
            if last <= first:
                continue
            block_start = loc["blockOffset"] + (first - loc["offset"])
            await self._send_block_range(loc, block_start, last - first, write)

    async def _send_block_range(self, loc, block_start, count, write):
        block_id = check_block_id(loc["blockId"])
        if self.store.has(block_id) and await self._verified(block_id):  # a bad copy is reported, then skipped
            try:
                source = open(self.store.path(block_id), "rb")
            except FileNotFoundError:
                pass  # deleted since the check: read it from a peer
            else:
                with source:
                    await copy_file_range(source, block_start, count, write, CHUNK)
                return
        errors = []
        for url in [u for u in loc.get("internalUrls", []) if u != self.own_url]:
            response = None
            try:
                response = await self.http.get(
                    f"{url}/blocks/{block_id}",
                    headers={"Range": f"bytes={block_start}-{block_start + count - 1}", VERIFY_HEADER: "1",
                             **self.namenode_headers()},
                    unbuffered=True,
                )
                if response.code not in (200, 206):
                    raise IOFailure(f"peer answered {response.code}")
                if response.code == 200 and block_start:
                    raise IOFailure("peer ignored the range")
            except Exception as e:
                if response is not None:
                    response.deliverBody(_Discard())
                errors.append(f"{url}: {e}")
                continue
            sent = await relay_body(response, _limited(write, count))
            if sent < count:
                raise Corrupt(f"peer {url} sent {sent} of {count} bytes of block {block_id}")
            return
        raise IOFailure(f"no replica of block {block_id} could be read: {'; '.join(errors) or 'no live replica'}")

    @app.route("/health", methods=["GET"])
    def health(self, request):
        return json_body({"status": "ok", "role": "datanode", "id": self.node_id, **self.store.usage()}, request)

    # -- observability ------------------------------------------------------------------------------

    def node_status(self):
        """What this node's page and metrics show: its blocks, its disk and the scrubber's progress."""
        scrubber = None if self.scrubber is None else dict(self.scrubber.stats, rate=self.scrubber.rate)
        return {"id": self.node_id, "namenode": self.namenode_url, "root": self.store.root,
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


def _limited(write, count):
    """A write that passes on at most ``count`` bytes (a peer must not send more than the range)."""
    remaining = count

    async def limited(data):
        nonlocal remaining
        if len(data) > remaining:
            raise DFSError("peer sent more than the requested range")
        remaining -= len(data)
        await write(data)

    return limited


class _Discard(Protocol):
    """Drops an unwanted response body without reading it."""

    def connectionMade(self):
        self.transport.stopProducing()


async def _nobody_listens(block_ids):
    """Stands in for the namenode link until the datanode has one."""


def _batch_lengths(text):
    try:
        lengths = [int(part) for part in text.split(",")]
    except ValueError:
        raise BadRequest("lengths is a comma-separated list of block sizes") from None
    if not lengths or min(lengths) <= 0:
        raise BadRequest("every block of a batch has at least one byte")
    return lengths


def parse_pieces(text):
    """'id:start:count,...' (the ``blocks`` redirect parameter) -> [(id, start, count)], or None if malformed."""
    if not text:
        return None
    pieces = []
    for item in text.split(","):
        try:
            block_id, start, count = item.split(":")
            pieces.append((check_block_id(block_id), int(start), int(count)))
        except (ValueError, BadRequest):
            return None
    return pieces if all(start >= 0 and count > 0 for _, start, count in pieces) else None
