"""The workloads: one timed measurement each, against any system's HTTP client or FUSE mount point.

Every function returns the figure of one run (MB/s with MB = 10^6 bytes, files/s, ms or s) and raises on any
wrong byte, status or count, so a fast wrong answer never becomes a figure.
"""

import asyncio
import hashlib
import os
import random
import re
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

MB = 1_000_000
CHUNK = 1 << 20

_caches_dropped = None


def drop_caches():
    """Write back and drop the page cache so the next read comes from disk; False when not allowed."""
    global _caches_dropped
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        _caches_dropped = True
    except OSError:
        _caches_dropped = False
    return _caches_dropped


def caches_dropped():
    return _caches_dropped


def make_random_file(path, size):
    """Write `size` fresh random bytes (so no run can reuse another's blocks), fsync, return the SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(8 * CHUNK, left))
            digest.update(piece)
            f.write(piece)
            left -= len(piece)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def session(limit=8):
    """One client: a keep-alive connection pool, no overall timeout (each workload has its own)."""
    connector = aiohttp.TCPConnector(limit=limit, force_close=False, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
                                 auto_decompress=False)


async def _file_chunks(path):
    # Reading the source from the page cache is cheap; a thread hop per chunk would cost more than the read.
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


async def upload_big(client, path, source, size):
    """(a) PUT one big file; MB/s."""
    async with session() as s:
        started = time.perf_counter()
        await client.put(s, path, _file_chunks(source), size)
        elapsed = time.perf_counter() - started
    return size / elapsed / MB


async def download_big(client, path, size, sha256):
    """(b) GET it back, hashing as it streams; MB/s, only if every byte matches."""
    digest = hashlib.sha256()
    async with session() as s:
        started = time.perf_counter()
        got = await client.get(s, path, digest.update)
        elapsed = time.perf_counter() - started
    if got != size or digest.hexdigest() != sha256:
        raise ValueError(f"download of {path}: {got} bytes, sha256 {digest.hexdigest()[:16]}…, "
                         f"wanted {size} bytes, {sha256[:16]}…")
    return size / elapsed / MB


def small_payloads(count, size):
    return [os.urandom(size) for _ in range(count)]


async def _many_clients(clients, count, job):
    """Run job(session, i) for i in range(count) from `clients` concurrent keep-alive clients."""
    next_index = iter(range(count))

    async def one_client():
        async with session(limit=4) as s:
            for i in next_index:
                await job(s, i)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return time.perf_counter() - started


async def upload_small(client, directory, payloads, clients):
    """(c) PUT many small files from concurrent clients; files/s."""
    async def put(s, i):
        await client.put(s, f"{directory}/f{i:05d}", payloads[i], len(payloads[i]))

    elapsed = await _many_clients(clients, len(payloads), put)
    return len(payloads) / elapsed


async def download_small(client, directory, payloads, clients):
    """(d) GET them back the same way; files/s, only if every file matches."""
    async def get(s, i):
        body = await client.get(s, f"{directory}/f{i:05d}")
        if body != payloads[i]:
            raise ValueError(f"{directory}/f{i:05d}: got {len(body)} bytes that differ from what was stored")

    elapsed = await _many_clients(clients, len(payloads), get)
    return len(payloads) / elapsed


async def list_directory(client, directory, expected, repeat=5):
    """(e) List the small-file directory; the median of `repeat` listings in ms, each with all entries."""
    times = []
    async with session() as s:
        for _ in range(repeat):
            started = time.perf_counter()
            count = await client.count_entries(s, directory)
            times.append((time.perf_counter() - started) * 1000)
            if count != expected:
                raise ValueError(f"listing {directory}: {count} entries, wanted {expected}")
    times.sort()
    return times[len(times) // 2]


async def create_many(client, directory, count, clients, size=1024):
    """(g) Create `count` files of `size` bytes in one directory from concurrent clients; files/s."""
    body = os.urandom(size)

    async def put(s, i):
        await client.put(s, f"{directory}/c{i:06d}", body, size)

    elapsed = await _many_clients(clients, count, put)
    return count / elapsed


async def stat_p50(client, directory, count, samples=500):
    """(g) Stat `samples` of those files one after another from one client; the median latency in ms."""
    times = []
    async with session() as s:
        for i in range(0, count, max(1, count // samples)):
            started = time.perf_counter()
            await client.stat(s, f"{directory}/c{i:06d}")
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2]


async def remove(client, path):
    async with session() as s:
        await client.delete(s, path)


def random_offsets(size, count, length, seed):
    """`count` offsets at which a read of `length` bytes lies within a file of `size` bytes."""
    rng = random.Random(seed)
    return [rng.randrange(size - length + 1) for _ in range(count)]


def _expected(source, offsets, length):
    with open(source, "rb") as f:
        return [os.pread(f.fileno(), length, offset) for offset in offsets]


async def random_reads_http(client, path, source, offsets, length, clients):
    """(h) Read `length` bytes at each offset with one HTTP range read each, from `clients` concurrent clients;
    reads/s, only if every read equals those bytes of the local source."""
    expected = _expected(source, offsets, length)

    async def read(s, i):
        body = await client.get_range(s, path, offsets[i], length)
        if body != expected[i]:
            raise ValueError(f"{path} at {offsets[i]}: got {len(body)} bytes that differ from what was stored")

    elapsed = await _many_clients(clients, len(offsets), read)
    return len(offsets) / elapsed


def random_reads_fuse(target, source, offsets, length, threads):
    """(h) The same through the mount from a cold page cache: os.pread from `threads` threads, each with its own
    descriptor advised POSIX_FADV_RANDOM (as fio does for random reads); reads/s, every read checked."""
    expected = _expected(source, offsets, length)
    drop_caches()
    next_index = iter(range(len(offsets)))

    def reader():
        fd = os.open(target, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            for i in next_index:
                if os.pread(fd, length, offsets[i]) != expected[i]:
                    raise ValueError(f"{target} at {offsets[i]} differs from what was stored")
        finally:
            os.close(fd)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(reader) for _ in range(threads)]:
            done.result()
    return len(offsets) / (time.perf_counter() - started)


# --- FUSE ---------------------------------------------------------------------------------------------------

def _timed(argv, timeout, what):
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-400:]}")
    return elapsed


def fuse_dd_write(source, target, size, timeout):
    """(f) dd a big file into the mount, fsync before dd exits; MB/s."""
    elapsed = _timed(["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fsync"], timeout, "dd write")
    return size / elapsed / MB


def fuse_dd_read(target, size, timeout):
    """(f) dd it back to /dev/null from a cold page cache; MB/s."""
    drop_caches()
    elapsed = _timed(["dd", f"if={target}", "of=/dev/null", "bs=1M"], timeout, "dd read")
    return size / elapsed / MB


def check_file(path, size, sha256):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ValueError(f"{path} read back through FUSE differs from what dd wrote")


def fuse_untar(tarball, directory, timeout):
    """(f) Untar the tarball into the mount; seconds."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    return _timed(["tar", "-xf", str(tarball), "-C", str(directory)], timeout, "tar -x")


def fuse_rm(directory, timeout):
    """(f) rm -rf a tree in the mount; seconds."""
    return _timed(["rm", "-rf", str(directory)], timeout, "rm -rf")


def fuse_clone(repository, directory, timeout):
    """(f) git clone a local bare repository into the mount (no hard links: the mount is another file system)."""
    return _timed(["git", "clone", "-q", "--no-hardlinks", f"file://{repository}", str(directory)], timeout,
                  "git clone")


def _stdlib_files(stdlib):
    """The standard library's files and directories without site-packages and the static libpython, sorted."""
    stdlib = Path(stdlib)
    skip = {stdlib / "site-packages", *stdlib.glob("config-*")}
    return [stdlib] + sorted(p for p in stdlib.rglob("*") if not any(p.is_relative_to(s) for s in skip))


def make_git_repository(path, stdlib, files):
    """A bare git repository of one commit holding the first `files` regular files of the standard library."""
    work = Path(str(path) + ".work")
    chosen = [p for p in _stdlib_files(Path(stdlib)) if p.is_file() and not p.is_symlink()][:files]
    for source in chosen:
        target = work / source.relative_to(stdlib)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-C", str(work)]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(git + argv, check=True, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(path)], check=True, capture_output=True)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return len(chosen)


def make_stdlib_tarball(path, stdlib, entries=0):
    """A tar of the Python standard library without site-packages and the static libpython (~8,000 entries), or
    of its first `entries` files and directories."""
    stdlib = Path(stdlib)
    chosen = _stdlib_files(stdlib)
    if entries:
        chosen = chosen[:entries]
    with tarfile.open(path, "w") as tar:
        for p in chosen:
            tar.add(p, arcname=str(Path(stdlib.name) / p.relative_to(stdlib)), recursive=False)
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    return len(members), sum(m.size for m in members)


# --- machine limits ---------------------------------------------------------------------------------------

def dd_fsync(path, size_mib, timeout=600):
    """What the disk takes: dd from /dev/zero with conv=fsync; MB/s."""
    try:
        elapsed = _timed(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={size_mib}", "conv=fsync"],
                         timeout, "dd to disk")
    finally:
        Path(path).unlink(missing_ok=True)
    return size_mib * CHUNK / elapsed / MB


def dd_cold_read(path, size, timeout=600):
    """What the disk gives back: dd of a file to /dev/null after dropping caches; MB/s."""
    drop_caches()
    elapsed = _timed(["dd", f"if={path}", "of=/dev/null", "bs=1M"], timeout, "dd from disk")
    return size / elapsed / MB


class StaticClient:
    """GET a file from the plain twisted.web static.File server with the same client code as the systems."""

    def __init__(self, url):
        self.url = url

    async def get(self, s, path, sink=None):
        async with s.get(self.url + path) as r:
            if r.status != 200:
                raise RuntimeError(f"static server answered {r.status}")
            total = 0
            async for chunk in r.content.iter_chunked(CHUNK):
                sink(chunk)
                total += len(chunk)
            return total


class BareClient:
    """Small files through the bare twisted.web yardsticks (bare_twisted.py): reads through the redirector to the
    static server, writes through the fan-out to its replicas."""

    def __init__(self, read_url, write_url):
        self.read_url = read_url
        self.write_url = write_url

    async def get(self, s, path):
        async with s.get(self.read_url + path) as r:  # aiohttp follows the 307 itself
            if r.status != 200:
                raise RuntimeError(f"bare redirect + static server answered {r.status}")
            return await r.read()

    async def put(self, s, path, body, size):
        async with s.put(self.write_url + path, data=body) as r:
            if r.status != 201:
                raise RuntimeError(f"bare fan-out answered {r.status}")


def parse_listening_port(line):
    m = re.search(r"listening on (\d+)", line)
    return int(m.group(1)) if m else None
