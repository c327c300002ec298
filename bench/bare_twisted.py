"""Bare twisted.web servers doing only what a small-file read or write through dfs must do, nothing else.

They are the yardsticks for workloads (c) and (d): what the same Python, Twisted and treq reach on this machine
with no metadata, authentication, logging or checks. Run with the dfs virtualenv's Python, one role per process:

    python bench/bare_twisted.py redirect URL        # every GET answers 307 to URL + the same path
    python bench/bare_twisted.py replica DIR         # a PUT body is stored in DIR durably (fsync, rename, fsync)
    python bench/bare_twisted.py fanout URL [URL …]  # a PUT body goes to every URL at once; 201 when all answered

Each prints `listening on PORT` once bound to an ephemeral port on 127.0.0.1.
"""

import os
import sys
import uuid

import treq
from twisted.internet import defer, endpoints, reactor, threads
from twisted.web import resource, server
from twisted.web.client import HTTPConnectionPool

DISK_THREADS = 16  # as many fsyncs in flight as a dfs datanode allows


class UnloggedSite(server.Site):
    """twisted.web's Site formats an access-log line per request; a bare server does not."""

    def log(self, request):
        pass


class Redirect(resource.Resource):
    isLeaf = True

    def __init__(self, target):
        super().__init__()
        self.target = target.encode()

    def render_GET(self, request):
        request.setResponseCode(307)
        request.setHeader(b"Location", self.target + request.path)
        return b""


class Replica(resource.Resource):
    """Stores each body under its path's last part, durable before the answer, as a dfs datanode stores a block."""

    isLeaf = True

    def __init__(self, directory):
        super().__init__()
        self.directory = directory

    def render_PUT(self, request):
        name = os.path.basename(request.path.decode())
        d = threads.deferToThread(self.store, request.content.read(), name)
        d.addCallbacks(lambda _: answer(request, 201), lambda failure: failed(request, 500, failure))
        return server.NOT_DONE_YET

    def store(self, data, name):
        temporary = os.path.join(self.directory, f".{uuid.uuid4().hex}")
        try:
            with open(temporary, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, os.path.join(self.directory, name))
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Fanout(resource.Resource):
    isLeaf = True

    def __init__(self, targets):
        super().__init__()
        self.targets = targets
        self.pool = HTTPConnectionPool(reactor)
        self.pool.maxPersistentPerHost = 64

    def render_PUT(self, request):
        body = request.content.read()
        path = request.path.decode()
        sent = [treq.put(target + path, data=body, pool=self.pool).addCallback(self.check)
                for target in self.targets]
        d = defer.gatherResults(sent, consumeErrors=True)
        d.addCallbacks(lambda _: answer(request, 201), lambda failure: failed(request, 502, failure))
        return server.NOT_DONE_YET

    @staticmethod
    def check(response):
        def verdict(body):
            if response.code != 201:
                raise RuntimeError(f"replica answered {response.code}: {body[:200]!r}")

        return treq.content(response).addCallback(verdict)  # read whole: the connection goes back to the pool


def answer(request, code):
    request.setResponseCode(code)
    request.finish()


def failed(request, code, failure):
    print(failure.getTraceback(), file=sys.stderr, flush=True)
    answer(request, code)


def main(role, *args):
    if role == "redirect":
        root = Redirect(args[0])
    elif role == "replica":
        reactor.suggestThreadPoolSize(DISK_THREADS)
        root = Replica(args[0])
    elif role == "fanout":
        root = Fanout(list(args))
    else:
        raise SystemExit(f"unknown role {role!r}: redirect, replica or fanout")
    endpoint = endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1")
    d = endpoint.listen(UnloggedSite(root))
    d.addCallback(lambda port: print(f"listening on {port.getHost().port}", flush=True))
    d.addErrback(lambda failure: (print(failure, flush=True), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
