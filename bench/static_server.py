"""A plain twisted.web static.File server on loopback: the yardstick for what Twisted can serve from one file.

Run with the dfs virtualenv's Python (same Twisted as dfs): `python bench/static_server.py DIR`.
It prints `listening on PORT` once bound to an ephemeral port on 127.0.0.1.
"""

import sys

from twisted.internet import endpoints, reactor
from twisted.web import server, static


def main(directory):
    site = server.Site(static.File(directory))
    endpoint = endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1")
    d = endpoint.listen(site)
    d.addCallback(lambda port: print(f"listening on {port.getHost().port}", flush=True))
    d.addErrback(lambda failure: (print(failure, flush=True), reactor.stop()))
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1])
