"""Moving bytes with back-pressure: into a twisted.web request, out of a treq response."""

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from zope.interface import implementer


class Pausable:
    """The pause/resume half of a push producer, turned into a Deferred the writer awaits until the consumer
    has drained its buffer."""

    _resumed = None

    def pauseProducing(self):
        if self._resumed is None:
            self._resumed = defer.Deferred()

    def resumeProducing(self):
        resumed, self._resumed = self._resumed, None
        if resumed is not None:
            resumed.callback(None)

    def drained(self):
        return defer.succeed(None) if self._resumed is None else self._resumed


@implementer(IPushProducer)
class RequestWriter(Pausable):
    """Writes into a twisted.web request and lets the writer ``await`` until the client has drained its buffer."""

    def __init__(self, request):
        self.request = request
        self.stopped = False
        request.registerProducer(self, True)
        request.notifyFinish().addErrback(lambda _: self.stopProducing())

    def stopProducing(self):
        self.stopped = True
        self.resumeProducing()

    async def write(self, data):
        if self.stopped:
            raise ConnectionDone("the client went away")
        self.request.write(data)
        await self.drained()
        if self.stopped:
            raise ConnectionDone("the client went away")

    def close(self):
        self.request.unregisterProducer()


class _Relay(Protocol):
    """Hands a response body to an async ``write``, pausing the response while ``write`` waits."""

    def __init__(self, write, done):
        self.write = write
        self.done = done
        self.failed = None
        self.received = 0

    def dataReceived(self, data):
        if self.failed is not None:
            return
        self.received += len(data)
        d = defer.ensureDeferred(self.write(data))
        if not d.called:
            self.transport.pauseProducing()
            d.addCallback(lambda _: self.transport.resumeProducing())
        d.addErrback(self._write_failed)

    def _write_failed(self, failure):
        self.failed = failure
        self.transport.stopProducing()

    def connectionLost(self, reason):
        if self.failed is not None:
            self.done.errback(self.failed)
        elif reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(self.received)
        else:
            self.done.errback(reason)


def relay_body(response, write):
    """Deliver a treq/Agent response body to ``async write(data)``; a Deferred of the byte count."""
    done = defer.Deferred()
    response.deliverBody(_Relay(write, done))
    return done

