"""Upload bodies streamed into the fan-out while they arrive, instead of spooled to a temporary file first.

twisted.web normally collects a whole request body before the resource sees it, which would make the namenode
write every upload to its own disk and read it back. Here the body of a WebHDFS CREATE/APPEND goes into an
``UploadStream`` from the moment its headers are in; the fan-out reads from it as it fills, and the client's
connection is paused while the buffer is full, so memory stays bounded and a slow datanode slows the client.
The route handler, which runs once the body is complete, only waits for the result and commits.
"""

from collections import deque

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger

from dfs.web import MeasuredRequest, QuietSite

log = Logger()

HIGH_WATER = 8 * 1024 * 1024  # buffered bytes at which the client's connection is paused
LOW_WATER = 2 * 1024 * 1024  # ... and resumed


class UploadStream:
    """A request body in transit: twisted.web writes into it, the fan-out reads from it.

    ``result`` is the Deferred of what receiving the body gave (the namenode app's (extents, commit)), set by
    whoever started reading.
    """

    def __init__(self, transport, length):
        self.length = length  # None for a chunked body
        self.result = None
        self.collected = False  # the route handler took the result
        self.received = 0
        self._transport = transport
        self._chunks = deque()
        self._buffered = 0
        self._done = False
        self._error = None
        self._waiting = None
        self._paused = False
        self._discarding = False

    # -- what twisted.web calls ---------------------------------------------------------------------

    def write(self, data):
        self.received += len(data)
        if self._discarding:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered >= HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pauseProducing()
        self._wake()

    def finish(self):
        """The whole body has arrived."""
        self._done = True
        self._wake()

    def close(self):
        """Called when the request ends; before ``finish`` that means the client went away mid-body."""
        if not self._done:
            self._error = ConnectionDone("the client went away before the body was complete")
            self._done = True
            self._wake()
            if self.result is not None:  # the handler will never run: nothing else will look at the outcome
                self.result.addErrback(lambda f: log.info("abandoned upload: {why}", why=f.getErrorMessage()))

    def seek(self, offset, whence=0):
        return 0

    def tell(self):
        return self.received

    def read(self, size=-1):
        return b""  # twisted.web parses form bodies from here; upload bodies are never forms

    # -- what the fan-out calls ---------------------------------------------------------------------

    async def read_chunk(self, size):
        """Up to ``size`` bytes (``size`` unless the body ends first); b"" at the end."""
        while self._buffered < size and not self._done:
            self._waiting = defer.Deferred()
            await self._waiting
        if self._error is not None:
            raise self._error
        parts, taken = [], 0
        while self._chunks and taken < size:
            chunk = self._chunks.popleft()
            if taken + len(chunk) > size:
                self._chunks.appendleft(chunk[size - taken:])
                chunk = chunk[:size - taken]
            parts.append(chunk)
            taken += len(chunk)
        self._buffered -= taken
        self._resume_if_drained()
        return b"".join(parts)

    def discard(self):
        """Stop keeping the body (the upload failed early): drop what came and what is still to come."""
        self._discarding = True
        self._chunks.clear()
        self._buffered = 0
        self._resume_if_drained()

    def _resume_if_drained(self):
        if self._paused and self._buffered <= LOW_WATER:
            self._paused = False
            self._transport.resumeProducing()

    def _wake(self):
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.callback(None)


class StreamingRequest(MeasuredRequest):
    """Asks the site's ``start_upload`` whether its body is an upload to stream, as soon as its headers are in."""

    def gotLength(self, length):
        super().gotLength(length)
        start = getattr(self.channel.site, "start_upload", None)
        if start is not None and length != 0:
            stream = start(self, self.channel._command, self.channel._path, length)
            if stream is not None:
                self.content.close()
                self.content = stream

    def requestReceived(self, command, path, version):
        if isinstance(self.content, UploadStream):
            self.content.finish()
        super().requestReceived(command, path, version)


class StreamingSite(QuietSite):
    """The namenode's site: ``start_upload(request, method, target, length)`` returns an UploadStream or None."""

    requestFactory = StreamingRequest

    def __init__(self, resource, start_upload, **kwargs):
        super().__init__(resource, **kwargs)
        self.start_upload = start_upload
