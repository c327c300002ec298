"""Typed clients of the cluster's internal HTTP routes: the one place that builds a datanode's or the namenode's URLs.

Each method sends one request through the shared treq client (dfs.http: its timeouts, its signing) with the
caller's headers, and returns a Deferred of the response: what an answer means is the caller's business.
"""

from urllib.parse import quote


class DatanodeClient:
    """The block routes of any datanode, named by its base URL; ``headers()`` adds the caller's credentials."""

    def __init__(self, http, headers=dict):
        self.http = http
        self.headers = headers

    def upload(self, url, body):
        """Store one block sent as ``body`` (bytes or an IBodyProducer); the answer names it and its length."""
        return self.http.put(_block_url(url, "upload"), data=body, headers=self.headers())

    def batch(self, url, data, lengths):
        """Store the blocks ``data`` holds back to back, cut by ``lengths``."""
        return self.http.put(_block_url(url, "batch"), params={"lengths": ",".join(str(n) for n in lengths)},
                             data=data, headers=self.headers())

    def fetch(self, url, block_id, source):
        """Have the datanode at ``url`` copy a block from the datanode at ``source``."""
        return self.http.post(_block_url(url, block_id, "fetch"), params={"source": source}, headers=self.headers())

    def delete(self, url, block_id, unless_stored_after):
        """Delete a replica unless the datanode stored or confirmed it after its mark ``unless_stored_after``."""
        return self.http.delete(_block_url(url, block_id), params={"unless_stored_after": unless_stored_after},
                                headers=self.headers())

    def format(self, url):
        """Drop every block (the namespace was formatted)."""
        return self.http.post(_block_url(url, "format"), headers=self.headers())

    def read(self, url, block_id, start=None, count=None):
        """A block's bytes, unbuffered: all of it, or the ``count`` bytes from ``start`` (a 206 answer)."""
        headers = self.headers()
        if start is not None:
            headers = {**headers, "Range": f"bytes={start}-{start + count - 1}"}
        return self.http.get(_block_url(url, block_id), headers=headers, unbuffered=True)

    def checksums(self, url, block_id):
        """A block's chunk checksums (dfs.chunks' form)."""
        return self.http.get(_block_url(url, block_id, "checksums"), headers=self.headers())


class NamenodeClient:
    """What a datanode asks of its namenode at ``url``: membership, reports, and where a file's blocks are."""

    def __init__(self, http, url, headers=dict):
        self.http = http
        self.url = url.rstrip("/")
        self.headers = headers

    def register(self, body):
        return self.http.post(self._cluster_url(), json=body, headers=self.headers())

    def heartbeat(self, node_id, body):
        return self.http.put(self._cluster_url(node_id, "heartbeat"), json=body, headers=self.headers())

    def block_report(self, node_id, block_ids):
        return self.http.put(self._cluster_url(node_id, "blocks"), json={"blocks": block_ids}, headers=self.headers())

    def report_corrupt(self, node_id, block_ids):
        return self.http.post(self._cluster_url(node_id, "corrupt"), json={"blocks": block_ids},
                              headers=self.headers())

    def block_locations(self, path):
        """The WebHDFS BlockLocations of the whole of ``path``."""
        return self.http.get(f"{self.url}/webhdfs/v1{quote(path)}", params={"op": "GETFILEBLOCKLOCATIONS"},
                             headers=self.headers())

    def _cluster_url(self, *node_route):
        node = "".join(f"/{quote(part, safe='')}" for part in node_route)
        return f"{self.url}/cluster/datanodes{node}"


def _block_url(url, *parts):
    return "/".join((url.rstrip("/"), "blocks", *parts))
