"""The namespace store against a plain in-memory model (hypothesis state machine), on each backend: after every
operation the tree is a tree (no cycle, nothing detached), holds exactly the model's paths, and every file has the
model's bytes."""

import hashlib
import posixpath
import shutil
import tempfile

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dfs.errors import DFSError
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import Extent

# A small universe of names, so operations collide: the same paths are created, moved onto, into and over.
PATHS = st.lists(st.sampled_from("ab"), min_size=1, max_size=2).map(lambda names: "/" + "/".join(names))
ANY_PATH = st.one_of(st.just("/"), PATHS)
DATA = st.binary(min_size=1, max_size=6)
# A destination for a source: itself, somewhere below it, its parent, or anywhere (as functions of the source).
DESTINATIONS = st.one_of(
    st.just(lambda src: src),
    PATHS.map(lambda below: lambda src: src.rstrip("/") + below),
    st.just(lambda src: posixpath.dirname(src)),
    ANY_PATH.map(lambda anywhere: lambda src: anywhere),
)
DIR = "dir"


class Refused(Exception):
    """The model's word for an operation the store must refuse, changing nothing."""


def result(d):
    out = []
    d.addBoth(out.append)
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


def below(path, ancestor):
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")


class Model:
    """The namespace as a dict: path -> DIR or the file's bytes. The root is implied."""

    def __init__(self):
        self.entries = {}

    def kind(self, path):
        return DIR if path == "/" else self.entries.get(path)

    def resolve(self, path):
        """What the store's walk says: the entry, or Refused when a proper ancestor is a file, or None (missing)."""
        walked = "/"
        for name in path.strip("/").split("/") if path != "/" else []:
            if self.kind(walked) != DIR:
                raise Refused(f"{walked} is a file")
            walked = posixpath.join(walked, name)
            if self.kind(walked) is None:
                return None
        return self.kind(path)

    def lookup(self, path):
        """Like the store's _lookup: the entry or None; missing parent is FileNotFoundError, a file parent Refused."""
        found = self.resolve(path)
        if found is None:
            parent = self.resolve(posixpath.dirname(path))
            if parent is None:
                raise FileNotFoundError(path)
            if parent != DIR:
                raise Refused(f"parent of {path} is a file")
        return found

    def tree(self, path):
        return {p: v for p, v in self.entries.items() if below(p, path) and p != "/"}

    def remove(self, path):
        for p in self.tree(path):
            del self.entries[p]

    def move(self, src, dst):
        for p, v in self.tree(src).items():
            del self.entries[p]
            self.entries[dst + p[len(src):]] = v

    def mkdirs(self, path):
        walked = "/"
        for name in path.strip("/").split("/") if path != "/" else []:
            walked = posixpath.join(walked, name)
            if self.kind(walked) not in (None, DIR):
                raise Refused(f"{walked} is a file")
            self.entries[walked] = DIR

    def create(self, path, data, overwrite):
        if path == "/":
            raise Refused("the root")
        self.mkdirs(posixpath.dirname(path))
        existing = self.kind(path)
        if existing == DIR or existing is not None and not overwrite:
            raise Refused(f"{path} exists")
        self.entries[path] = data

    def file(self, path):
        found = self.resolve(path)
        if found is None or found == DIR:
            raise Refused(f"{path} is no file")
        return found

    def rename(self, src, dst, overwrite):
        """HDFS's rename: False (v1) or refused (with overwrite) in the same cases; onto itself is True."""
        try:
            if self.resolve(src) is None:
                raise FileNotFoundError(src)
            existing, target = self.lookup(dst), dst
            if existing == DIR and not overwrite:
                target = posixpath.join(dst, posixpath.basename(src)).rstrip("/") or "/"
                existing = self.lookup(target)
            if existing is not None and target == src:
                return True
            if src == "/" or target == "/" or below(posixpath.dirname(target), src):
                raise FileExistsError("into itself")
            if existing is not None:
                if not overwrite:
                    raise FileExistsError(target)
                if (existing == DIR) != (self.kind(src) == DIR):
                    raise Refused("types differ")
                if existing == DIR and len(self.tree(target)) > 1:
                    raise Refused("not empty")
                self.remove(target)
        except (FileNotFoundError, FileExistsError):
            if overwrite:
                raise Refused("rename refused") from None
            return False
        self.move(src, target)
        return True

    def delete(self, path, recursive):
        if path == "/":
            raise Refused("the root")
        try:
            found = self.resolve(path)
        except Refused:
            return False
        if found is None:
            return False
        if found == DIR and not recursive and len(self.tree(path)) > 1:
            raise Refused("not empty")
        self.remove(path)
        return True

    def copy(self, src, dst, overwrite):
        if self.resolve(src) is None:
            raise Refused("no source")
        try:
            existing = self.lookup(dst)
        except FileNotFoundError:
            raise Refused("no destination parent") from None
        target = posixpath.join(dst, posixpath.basename(src)) if existing == DIR else dst
        existing = self.lookup(target)
        if existing is not None and target == src:
            raise Refused("onto itself")
        if existing == DIR or existing is not None and not (overwrite and self.kind(src) != DIR):
            raise Refused("destination exists")
        if below(posixpath.dirname(target), src):
            raise Refused("into itself")
        self.remove(target)
        for p, v in self.tree(src).items():
            self.entries[target + p[len(src):]] = v

    def concat(self, target, sources):
        data = self.file(target)
        staged = dict(self.entries)
        for src in sources:
            if src == target or src not in staged or staged[src] == DIR:
                raise Refused(f"bad source {src}")
            self.file(src)
            data += staged.pop(src)
        staged[target] = data
        self.entries = staged

    def truncate(self, path, length):
        data = self.file(path)
        if length > len(data):
            raise Refused("longer")
        self.entries[path] = data[:length]


class NamespaceMachine(RuleBasedStateMachine):
    """On SQLite; PostgresNamespaceMachine runs the same on PostgreSQL."""

    def __init__(self):
        super().__init__()
        self.directory = None
        self.store = open_namespace(self.location())
        self.store.start()
        self.model = Model()
        self.blocks = {}

    def location(self):
        """Where an example's empty namespace is: an SQLite file in a directory of its own."""
        self.directory = tempfile.mkdtemp(prefix="dfs-model-")
        return self.directory + "/ns.sqlite"

    def teardown(self):
        self.store.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def extents(self, data):
        block = hashlib.sha256(data).hexdigest()
        self.blocks[block] = data
        return [Extent(block, 0, len(data), len(data))]

    def both(self, change, expect):
        """Run ``expect`` on a copy of the model and ``change`` on the store: they must agree on the outcome
        (the same answer, or both refusing); a refused operation changes neither."""
        before = dict(self.model.entries)
        try:
            expected = expect()
        except Refused as reason:
            self.model.entries = before
            try:
                answer = result(change())
            except DFSError:
                return
            raise AssertionError(f"the store did what the model refuses ({reason}), answering {answer!r}")
        try:
            answer = result(change())
        except DFSError as e:
            raise AssertionError(f"the store refused what the model allows: {e.message}") from None
        if expected is not None:
            assert answer == expected

    @initialize(directory=PATHS, file=PATHS, data=DATA)
    def start_with_a_directory_and_a_file(self, directory, file, data):
        self.mkdirs(directory)
        self.create(file, data, overwrite=False)

    @rule(path=PATHS)
    def mkdirs(self, path):
        self.both(lambda: self.store.mkdirs(path), lambda: self.model.mkdirs(path))

    @rule(path=PATHS, data=DATA, overwrite=st.booleans())
    def create(self, path, data, overwrite):
        self.both(lambda: self.store.create(path, self.extents(data), overwrite),
                  lambda: self.model.create(path, data, overwrite))

    @rule(src=ANY_PATH, dst=DESTINATIONS, overwrite=st.booleans())
    def rename(self, src, dst, overwrite):
        dst = dst(src)
        self.both(lambda: self.store.rename(src, dst, overwrite), lambda: self.model.rename(src, dst, overwrite))

    @rule(path=ANY_PATH, recursive=st.booleans())
    def delete(self, path, recursive):
        self.both(lambda: self.store.delete(path, recursive), lambda: self.model.delete(path, recursive))

    @rule(path=PATHS, data=DATA)
    def append(self, path, data):
        def expect():
            self.model.entries[path] = self.model.file(path) + data
        self.both(lambda: self.store.append(path, self.extents(data)), expect)

    @rule(into=PATHS, sources=st.lists(PATHS, min_size=1, max_size=2))
    def concat(self, into, sources):
        self.both(lambda: self.store.concat(into, sources), lambda: self.model.concat(into, sources))

    @rule(src=PATHS, dst=DESTINATIONS, overwrite=st.booleans())
    def copy(self, src, dst, overwrite):
        dst = dst(src)
        self.both(lambda: self.store.copy(src, dst, overwrite), lambda: self.model.copy(src, dst, overwrite))

    @rule(path=PATHS, length=st.integers(0, 8))
    def truncate(self, path, length):
        self.both(lambda: self.store.truncate(path, length), lambda: self.model.truncate(path, length))

    @invariant()
    def the_namespace_is_a_tree(self):
        assert result(self.store.namespace_problems()) == []

    @invariant()
    def the_store_holds_the_model(self):
        found, pending = {}, ["/"]
        while pending:
            directory = pending.pop()
            _, entries = result(self.store.listing(directory))
            for entry in entries:
                path = posixpath.join(directory, entry.name)
                found[path] = DIR if entry.inode.is_directory else None
                if entry.inode.is_directory:
                    pending.append(path)
        assert {p: v == DIR for p, v in found.items()} == {p: v == DIR for p, v in self.model.entries.items()}
        for path, data in self.model.entries.items():
            if data != DIR:
                inode, extents = result(self.store.stat(path))
                stored = b"".join(self.blocks[e.block_id][e.block_offset:e.block_offset + e.length] for e in extents)
                assert (inode.size, stored) == (len(data), data), path


class PostgresNamespaceMachine(NamespaceMachine):
    server = url = None  # the session's PostgreSQL server and database, set by the fixture ``on_postgres``

    def location(self):
        """The session's database, emptied (TRUNCATE: CREATE DATABASE per example would cost 0.25 s)."""
        self.server.empty(self.url)
        return self.url


@pytest.fixture
def on_postgres(postgres_server, postgres_namespace_url):
    PostgresNamespaceMachine.server, PostgresNamespaceMachine.url = postgres_server, postgres_namespace_url


NamespaceMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestNamespaceAgainstModel = NamespaceMachine.TestCase
# Fewer examples: every step is a round trip to a server (200 took 190 s on a loaded 2-core machine, SQLite 46 s).
PostgresNamespaceMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)
TestNamespaceAgainstModelOnPostgres = pytest.mark.usefixtures("on_postgres")(PostgresNamespaceMachine.TestCase)
