"""A plain twisted.web static.File server on loopback: the yardstick for what Twisted serves from a directory (the
big file of the download limit, and the small files behind the bare redirector of bare_twisted.py).

Run with the dfs virtualenv's Python (same Twisted as dfs): `python bench/static_server.py DIR`.
It prints `listening on PORT` once bound to an ephemeral port on 127.0.0.1.
"""

import sys

from twisted.internet import endpoints, reactor
from twisted.web import static

from bare_twisted import UnloggedSite


def main(directory):
    site = UnloggedSite(static.File(directory))
    endpoint = endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1")
    d = endpoint.listen(site)
    d.addCallback(lambda port: print(f"listening on {port.getHost().port}", flush=True))
    d.addErrback(lambda failure: (print(failure, flush=True), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1])
