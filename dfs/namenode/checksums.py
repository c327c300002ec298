"""Files' checksums in HDFS's form (dfs.hadoop_checksum): each extent's block MD5 from a datanode holding it, combined
here, and kept per file version, since a version's bytes never change. A hole is no datanode's: its zeros are
checksummed here, cut where HDFS's blocks of the file's block size would end, as if they were stored."""

from collections import OrderedDict

from twisted.internet import defer

from dfs import extents as file_extents
from dfs import hadoop_checksum
from dfs.errors import IOFailure
from dfs.http import UNREACHABLE

# Datanodes asked at once for one file: enough to keep several disks busy, few enough not to crowd out reads.
PARALLEL = 8
CACHED_VERSIONS = 4096


class FileChecksums:
    def __init__(self, datanodes, registry, parallel=PARALLEL, cached=CACHED_VERSIONS):
        self.datanodes = datanodes
        self.registry = registry
        self.parallel = parallel
        self.cached = cached
        self._known = OrderedDict()

    async def of(self, extents, block_size):
        """(algorithm name, serialised checksum) of the file version these extents make up, in blocks of
        ``block_size`` bytes (the file's)."""
        version = file_extents.version(extents)
        if version in self._known:
            self._known.move_to_end(version)
            return self._known[version]
        limit = defer.DeferredSemaphore(self.parallel)
        blocks = await defer.gatherResults(
            [self._piece(piece, limit) for piece in _pieces(extents, block_size)], consumeErrors=True,
        ).addErrback(lambda failure: failure.value.subFailure)
        result = hadoop_checksum.file_checksum(blocks)
        self._known[version] = result
        if len(self._known) > self.cached:
            self._known.popitem(last=False)
        return result

    def _piece(self, ext, limit):
        if ext.block_id is None:  # a piece of a hole
            return defer.succeed(hadoop_checksum.of_zeros(ext.length))
        return limit.run(lambda: defer.Deferred.fromCoroutine(self._extent(ext)))

    async def _extent(self, ext):
        """(MD5, chunk count) of one extent's bytes, from the first of its block's holders that answers."""
        errors = []
        for node in self.registry.holders(ext.block_id):
            try:
                return await self._block_md5crc(node.url, ext.block_id, ext.block_offset, ext.length)
            except (IOFailure, *UNREACHABLE) as e:
                errors.append(f"{node.id}: {e}")
        raise IOFailure(f"no replica of block {ext.block_id} could be checksummed: "
                        f"{'; '.join(errors) or 'no live replica'}")

    async def _block_md5crc(self, url, block_id, start, count):
        """(MD5, chunk count) of bytes [start, start+count) of a block, from the datanode at ``url``."""
        response = await self.datanodes.md5crc(url, block_id, start, count)
        answer = await response.json()
        if response.code != 200:
            raise IOFailure(f"answered {response.code}: {answer.get('RemoteException', {}).get('message', answer)}")
        return bytes.fromhex(answer["md5"]), int(answer["chunks"])


def _pieces(extents, block_size):
    """The extents, each run of holes cut where a block of ``block_size`` bytes would end in a file written
    densely."""
    position, hole = 0, None  # hole: the run of holes not yet cut, as one extent
    for ext in [*extents, None]:
        if ext is not None and ext.block_id is None:
            hole = ext if hole is None else hole._replace(length=hole.length + ext.length)
            continue
        if hole is not None:
            start, end = position, position + hole.length
            while start < end:
                stop = min(end, (start // block_size + 1) * block_size)
                yield hole._replace(length=stop - start)
                start = stop
            position, hole = end, None
        if ext is not None:
            yield ext
            position += ext.length
