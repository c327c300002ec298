"""Typed clients of the cluster's internal HTTP routes, and the one place that builds a datanode's or a namenode's
URLs (the client library builds its namenode URLs here too).

Each method sends one request through the shared treq client (dfs.http: its timeouts, its signing) with the
caller's headers, and returns a Deferred of the response: what an answer means is the caller's business.
"""

import hashlib
from urllib.parse import quote


class _PeerClient:
    """What both clients share: the treq client, the caller's ``headers()``, and the one method that sends."""

    def __init__(self, http, headers=dict):
        self.http = http
        self.headers = headers

    def _request(self, method, url, headers=None, **kwargs):
        """Every request of the client: the caller's credentials (``headers()``) and this request's own headers."""
        return self.http.request(method, url, headers={**self.headers(), **(headers or {})}, **kwargs)


class DatanodeClient(_PeerClient):
    """The block routes of any datanode, named by its base URL; ``headers()`` adds the caller's credentials."""

    def upload(self, url, body):
        """Store one block sent as ``body`` (bytes or an IBodyProducer); the answer names it and its length."""
        return self._request("PUT", _block_url(url, "upload"), data=body)

    def batch(self, url, data, lengths):
        """Store the blocks ``data`` holds back to back, cut by ``lengths``."""
        return self._request("PUT", _block_url(url, "batch"), params={"lengths": ",".join(str(n) for n in lengths)},
                             data=data)

    def fetch(self, url, block_id, source):
        """Have the datanode at ``url`` copy a block from the datanode at ``source``."""
        return self._request("POST", _block_url(url, block_id, "fetch"), params={"source": source})

    def fetch_many(self, url, block_ids, source):
        """Have the datanode at ``url`` copy several blocks from the datanode at ``source``, in one request; the
        answer says per block whether it holds it now."""
        return self._request("POST", _block_url(url, "fetch"), params={"source": source}, json={"blocks": block_ids})

    def delete(self, url, block_id, unless_stored_after, epoch=None):
        """Delete a replica unless the datanode stored or confirmed it after its mark ``unless_stored_after``, or
        has seen a DELETE of a later ``epoch`` (the sender's lease of background work)."""
        params = {"unless_stored_after": unless_stored_after}
        if epoch is not None:
            params["epoch"] = epoch
        return self._request("DELETE", _block_url(url, block_id), params=params)

    def delete_many(self, url, block_ids, unless_stored_after, epoch=None):
        """``delete`` of many blocks in one request (POST /blocks/delete): the ids go as raw digests in the body,
        and its SHA-256 in the signed query, so no one can swap the list under the signature."""
        body = b"".join(bytes.fromhex(block_id) for block_id in block_ids)
        params = {"unless_stored_after": unless_stored_after, "ids": hashlib.sha256(body).hexdigest()}
        if epoch is not None:
            params["epoch"] = epoch
        return self._request("POST", _block_url(url, "delete"), params=params, data=body)

    def format(self, url):
        """Drop every block (the namespace was formatted)."""
        return self._request("POST", _block_url(url, "format"))

    def read(self, url, block_id, start=None, count=None):
        """A block's bytes, unbuffered: all of it, or the ``count`` bytes from ``start`` (a 206 answer)."""
        headers = None if start is None else {"Range": f"bytes={start}-{start + count - 1}"}
        return self._request("GET", _block_url(url, block_id), headers=headers, unbuffered=True)

    def md5crc(self, url, block_id, start, count):
        """HDFS's block checksum (an MD5 of 512-byte chunks' CRC32Cs) of bytes [start, start+count) of a block."""
        return self._request("GET", _block_url(url, block_id, "md5crc"), params={"start": start, "count": count})

    def checksums(self, url, block_id):
        """A block's chunk checksums (dfs.chunks' form)."""
        return self._request("GET", _block_url(url, block_id, "checksums"))


class NamenodeClient(_PeerClient):
    """What a datanode asks of its namenode at ``url``: membership, reports, and where a file's blocks are."""

    def __init__(self, http, url, headers=dict):
        super().__init__(http, headers)
        self.url = url.rstrip("/")

    def register(self, body):
        return self._request("POST", self._cluster_url(), json=body)

    def heartbeat(self, node_id, body):
        return self._request("PUT", self._cluster_url(node_id, "heartbeat"), json=body)

    def block_report(self, node_id, block_ids):
        """A whole full report in one JSON list: for a namenode of the previous release."""
        return self._request("PUT", self._cluster_url(node_id, "blocks"), json={"blocks": block_ids})

    def report_piece(self, node_id, report_id, piece, pieces, data):
        """Piece number ``piece`` of ``pieces`` of the full report ``report_id``, encoded by dfs.blockreports."""
        return self._request("PUT", self._cluster_url(node_id, "blocks"), data=data,
                             params={"report": report_id, "piece": str(piece), "pieces": str(pieces)},
                             headers={"Content-Type": "application/octet-stream"})

    def report_corrupt(self, node_id, block_ids):
        return self._request("POST", self._cluster_url(node_id, "corrupt"), json={"blocks": block_ids})

    def block_locations(self, path):
        """The WebHDFS BlockLocations of the whole of ``path``."""
        return self._request("GET", webhdfs_url(self.url, path), params={"op": "GETFILEBLOCKLOCATIONS"})

    def _cluster_url(self, *node_route):
        return cluster_url(self.url, "datanodes", *node_route)


def webhdfs_url(namenode, path):
    """The WebHDFS URL of ``path`` on the namenode whose base URL is ``namenode``."""
    return f"{namenode}/webhdfs/v1{quote(path)}"


def cluster_url(namenode, *parts):
    """The URL of one of a namenode's ``/cluster/...`` routes, each part quoted whole."""
    return "/".join((namenode, "cluster", *(quote(part, safe="") for part in parts)))


def _block_url(url, *parts):
    return "/".join((url.rstrip("/"), "blocks", *parts))
