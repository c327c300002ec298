"""The fan-out's request bodies against Twisted's real connection bookkeeping (a FileDescriptor whose socket takes
bytes only when told to), with the interleavings forced one step at a time."""

import io

from twisted.internet import abstract
from twisted.internet.task import Clock, Cooperator
from twisted.web._newclient import Request
from twisted.web.client import FileBodyProducer
from twisted.web.http_headers import Headers

from dfs.namenode.upload import CHUNK, _TargetBody

HOST = Headers({"Host": ["datanode"]})


class Socket(abstract.FileDescriptor):
    """A connected socket whose kernel buffer takes nothing until ``accepting``; everything above it (buffering,
    pausing and resuming the registered producer) is Twisted's own."""

    def __init__(self):
        super().__init__(reactor=Clock())
        self.connected = 1
        self.accepting = False
        self.sent = b""

    def startWriting(self):
        pass

    def stopWriting(self):
        pass

    def writeSomeData(self, data):
        if not self.accepting:
            return 0
        self.sent += bytes(data)
        return len(data)


def test_a_block_finished_while_its_connection_is_full_leaves_no_pause_behind():
    """The cause of 'NotPaused' during uploads: a block body that finished while its connection still held it
    paused was unregistered at once, and Twisted's transport keeps its 'producer paused' flag across producers. The
    next request on that pooled connection (a batch of small blocks, whose FileBodyProducer runs on a cooperator
    task) was then resumed without ever being paused: NotPaused broke the connection and the batch's replica."""
    socket = Socket()
    block = _TargetBody(CHUNK)
    Request(b"PUT", b"/blocks/upload", HOST, block).writeTo(socket)
    block.write(b"x" * CHUNK)  # more than the connection buffers: Twisted pauses the body
    assert socket.producerPaused
    block.finish()  # the fan-out has sent the whole block; the socket has not taken it yet
    socket.accepting = True
    socket.doWrite()  # the datanode reads it all
    assert socket.producer is None and not socket.producerPaused

    clock = Clock()
    cooperator = Cooperator(scheduler=lambda work: clock.callLater(0, work))
    batch = FileBodyProducer(io.BytesIO(b"small blocks"), cooperator=cooperator)
    Request(b"PUT", b"/blocks/batch", HOST, batch).writeTo(socket)  # the connection's next request
    socket.doWrite()  # raised NotPaused here
    clock.advance(0)
    clock.advance(0)
    socket.doWrite()
    assert socket.sent.endswith(b"\r\n\r\nsmall blocks")


def test_a_body_that_fails_while_paused_never_finishes():
    socket = Socket()
    block = _TargetBody(CHUNK)
    finished = Request(b"PUT", b"/blocks/upload", HOST, block).writeTo(socket)
    block.write(b"x" * CHUNK)
    block.finish()
    block.stopProducing()  # the connection is lost before it drained
    assert finished.called and not block.alive
    finished.addErrback(lambda _: None)
