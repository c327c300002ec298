"""Bounds on what one HTTP client can make a server hold: request line, headers, query parameters, bodies outside
uploads, the time to send a request's headers, and concurrent uploads per client address.

They are enforced by the HTTP channel, before any body byte is stored, and answered with 414/431/413/429/408.
"""

import json
import re
from collections import Counter
from urllib.parse import unquote_to_bytes

from twisted.logger import Logger
from twisted.web.http import HTTPChannel

from dfs.errors import (BadRequest, DFSError, FileTooLarge, HeaderTooLarge, RequestTimeout, TooLarge, TooManyRequests,
                        URITooLong)
from dfs.paths import MAX_PATH_BYTES

log = Logger()

_NOT_ASCII = re.compile(rb"[\x80-\xff]")

# The largest file dfs stores (the namenode's --max-file-size default): what the extent model holds (sizes and
# offsets are signed 64-bit integers in both backends, and in Java's long), and Linux's largest file. Growing a file
# past its end stores no zeros (a hole), so a `truncate -s` of any size is a metadata change.
MAX_FILE_SIZE = (1 << 63) - 1
# Room for two of the longest paths percent-encoded byte by byte (RENAME, COPY) and the other parameters.
MAX_REQUEST_LINE = 2 * 3 * MAX_PATH_BYTES + 16 * 1024

REASONS = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large", 414: b"URI Too Long",
           429: b"Too Many Requests", 431: b"Request Header Fields Too Large", 401: b"Unauthorized",
           403: b"Forbidden"}


class Limits:
    """One server's limits. ``is_upload(method, target)`` names the requests whose bodies are file data (not held
    to ``max_body`` but counted against ``uploads_per_client``, and refused when they announce more than
    ``max_upload`` bytes); ``admit(method, target, headers)`` may refuse a request that is about to send a body (it
    returns the error to answer, or None)."""

    def __init__(self, max_request_line=MAX_REQUEST_LINE, max_header_size=16 * 1024, max_headers=100, max_params=100,
                 max_body=64 * 1024 * 1024, header_timeout=20.0, idle_timeout=180.0, uploads_per_client=None,
                 is_upload=None, admit=None, max_upload=MAX_FILE_SIZE):
        self.max_request_line = max_request_line
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        self.max_params = max_params
        self.max_body = max_body
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.uploads_per_client = uploads_per_client
        self.is_upload = is_upload or (lambda method, target: False)
        self.admit = admit
        self.max_upload = max_upload
        self.uploads = Counter()

    def start_upload(self, address):
        """Take one of ``address``'s upload slots; False when it has none left."""
        if self.uploads_per_client is not None and self.uploads[address] >= self.uploads_per_client:
            return False
        self.uploads[address] += 1
        return True

    def end_upload(self, address):
        self.uploads[address] -= 1
        if self.uploads[address] <= 0:
            del self.uploads[address]


DEFAULT_LIMITS = Limits()


class LimitedChannel(HTTPChannel):
    """An HTTPChannel that enforces its site's ``limits`` (a Limits) and answers each breach with a clear status.

    The header deadline runs from the connection's start, and on a kept-alive connection from the first byte of
    each later request, to the end of that request's headers: a client that trickles its headers a byte at a time
    (slowloris) is cut off, though every byte would reset the idle timeout.
    """

    def connectionMade(self):
        self.limits = getattr(self.site, "limits", None) or DEFAULT_LIMITS
        # Twisted's own checks answer a bare 400; make ours fire first and keep theirs as a backstop.
        self.maxHeaders = self.limits.max_headers + 1
        self.totalHeadersSize = self.limits.max_request_line + self.limits.max_header_size + 1024
        self.MAX_LENGTH = max(self.limits.max_request_line, self.limits.max_header_size)
        self._head_lines = 0
        self._head_bytes = 0
        self._in_body = False
        self._body_bytes = 0
        self._body_limit = None
        self._refused = False
        self._deadline = None
        super().connectionMade()
        self._start_deadline()

    # -- the request head -------------------------------------------------------------------------------

    def dataReceived(self, data):
        if self._refused:
            return
        if self._deadline is None and not self._in_body and not self._handlingRequest:
            self._start_deadline()
        super().dataReceived(data)

    def lineReceived(self, line):
        if self._refused:
            return
        if self._head_lines == 0:
            if not line:  # a stray CRLF between requests; Twisted skips it
                return super().lineReceived(line)
            if len(line) > self.limits.max_request_line:
                return self._refuse(URITooLong(f"request line longer than {self.limits.max_request_line} bytes"))
            target = line.split(b" ")[1] if line.count(b" ") >= 2 else b""
            path, _, query = target.partition(b"?")
            count = sum(1 for part in query.split(b"&") if part)
            if count > self.limits.max_params:
                return self._refuse(URITooLong(f"{count} query parameters; at most {self.limits.max_params}"))
            try:
                unquote_to_bytes(path).decode("utf-8")
            except UnicodeDecodeError:
                return self._refuse(BadRequest("the path is not percent-encoded UTF-8"))
            if not target.isascii():
                # Hadoop's WebHdfsFileSystem sends a path's non-ASCII characters as raw UTF-8, which HDFS's Jetty
                # reads; twisted.web refuses a request line that is not ASCII, so it gets their percent-encoding.
                method, _, rest = line.partition(b" ")
                line = method + b" " + _NOT_ASCII.sub(lambda byte: b"%%%02X" % byte[0][0], rest)
        elif line:
            self._head_bytes += len(line) + 2
            if self._head_bytes > self.limits.max_header_size:
                return self._refuse(HeaderTooLarge(f"headers larger than {self.limits.max_header_size} bytes"))
            if line[:1] not in b" \t" and self._head_lines > self.limits.max_headers:
                return self._refuse(HeaderTooLarge(f"more than {self.limits.max_headers} headers"))
        self._head_lines += 1
        return super().lineReceived(line)

    def lineLengthExceeded(self, line):
        if self._head_lines == 0:
            return self._refuse(URITooLong(f"request line longer than {self.limits.max_request_line} bytes"))
        return self._refuse(HeaderTooLarge(f"a header line longer than {self.MAX_LENGTH} bytes"))

    def allHeadersReceived(self):
        self._stop_deadline()
        self._head_lines = self._head_bytes = 0
        self._in_body = True
        if self.length != 0 and not self._screen_body(self.requests[-1]):
            return
        super().allHeadersReceived()

    def _screen_body(self, request):
        """Limits and the site's ``admit`` for a request that announced a body; False when it was refused."""
        method, target = self._command, self._path
        upload = self.limits.is_upload(method, target)
        if not upload and self.length is not None and self.length > self.limits.max_body:
            return self._refuse(TooLarge(f"a body of {self.length} bytes; this endpoint takes at most"
                                         f" {self.limits.max_body}"))
        if upload and self.length is not None and self.length > self.limits.max_upload:
            return self._refuse(FileTooLarge(f"a file of {self.length} bytes; the largest file is"
                                             f" {self.limits.max_upload} bytes"))
        if self.limits.admit is not None:
            refusal = self.limits.admit(method, target, request.requestHeaders)
            if refusal is not None:
                return self._refuse(refusal)
        if upload:
            address = self.transport.getPeer().host
            if not self.limits.start_upload(address):
                return self._refuse(TooManyRequests(f"{address} already has {self.limits.uploads_per_client}"
                                                    " uploads in progress; retry when one ends"))
            request.notifyFinish().addBoth(lambda _: self.limits.end_upload(address))
        else:
            self._body_limit = self.limits.max_body
        return True

    # -- the body ---------------------------------------------------------------------------------------

    def rawDataReceived(self, data):
        if self._refused:
            return
        if self._in_body and self._body_limit is not None and not self._handlingRequest:
            self._body_bytes += len(data)
            if self._body_bytes > self._body_limit:
                return self._refuse(TooLarge(f"this endpoint takes a body of at most {self._body_limit} bytes"))
        super().rawDataReceived(data)

    def allContentReceived(self):
        self._in_body = False
        self._body_bytes = 0
        self._body_limit = None
        super().allContentReceived()

    # -- the header deadline and refusals ---------------------------------------------------------------

    def _start_deadline(self):
        if self.limits.header_timeout:
            self._deadline = self.callLater(self.limits.header_timeout, self._headers_too_slow)

    def _stop_deadline(self):
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _headers_too_slow(self):
        self._deadline = None
        log.info("cut off {peer}: no complete request headers within {t}s", peer=str(self.transport.getPeer()),
                 t=self.limits.header_timeout)
        self._refuse(RequestTimeout(f"request headers not complete within {self.limits.header_timeout:g}s"))

    def _refuse(self, error):
        """Answer ``error`` (a DFSError) and close: what was not read of this request is never read."""
        if self._refused or self.transport.disconnecting:  # answered already (twisted.web refused it itself)
            return False
        self._refused = True
        self._stop_deadline()
        self.setTimeout(None)  # from here the abort below bounds the connection's life
        if not isinstance(error, DFSError):
            error = BadRequest(str(error))
        body = json.dumps(error.to_json(), separators=(",", ":")).encode()
        head = [b"HTTP/1.1 %d %s" % (error.status, REASONS.get(error.status, b"Error")),
                b"Content-Type: application/json", b"Content-Length: %d" % len(body), b"Connection: close"]
        if error.status == 429:
            head.append(b"Retry-After: 5")
        if error.status == 401:
            head.append(b'WWW-Authenticate: Bearer realm="dfs"')
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self._networkProducer.unregisterProducer()
        # Close only our side and keep reading (and dropping) what the client still sends: closing a socket with
        # unread data resets it, and a reset can destroy the answer before the client reads it. (TLS has no
        # half-close: its wrapper would pass the call to the socket under it, ahead of the encrypted answer.)
        if not self.isSecure() and hasattr(self.transport, "loseWriteConnection"):
            self.transport.loseWriteConnection()
        else:
            self.transport.loseConnection()
        if self.abortTimeout is not None and self._abortingCall is None:
            # A client that never finishes (or never reads) is cut off after this long.
            self._abortingCall = self.callLater(self.abortTimeout, self.forceAbortClient)
        return False

    def connectionLost(self, reason):
        self._stop_deadline()
        super().connectionLost(reason)
