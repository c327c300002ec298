"""The namespace store against a plain in-memory model (hypothesis state machine), on each backend: after every
operation the tree is a tree (no cycle, nothing detached), holds exactly the model's paths, every file has the
model's bytes (through each of its hard links, until the last one goes), link counts match, and no removed file
keeps a block."""

import hashlib
import itertools
import posixpath
import shutil
import tempfile

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from test_metadata import result

from dfs.errors import DFSError
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import SYMLINK, Extent

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
TARGETS = st.sampled_from(["a", "/b", "../x"])


class Refused(Exception):
    """The model's word for an operation the store must refuse, changing nothing."""


def below(path, ancestor):
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")


class Link(str):
    """A model symlink: its target."""


class Model:
    """The namespace as two dicts: ``entries`` path -> DIR or an inode number, ``inodes`` number -> the file's
    bytes or a Link. The root is implied; an inode no entry names is gone."""

    def __init__(self):
        self.entries = {}
        self.inodes = {}
        self.numbers = itertools.count(1)

    def new(self, content):
        number = next(self.numbers)
        self.inodes[number] = content
        return number

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
        """An overwrite keeps a file's inode (every hard link sees the new bytes); a symlink is replaced."""
        if path == "/":
            raise Refused("the root")
        self.mkdirs(posixpath.dirname(path))
        existing = self.kind(path)
        if existing == DIR or existing is not None and not overwrite:
            raise Refused(f"{path} exists")
        if existing is not None and not isinstance(self.inodes[existing], Link):
            self.inodes[existing] = data
        else:
            self.entries[path] = self.new(data)

    def file(self, path):
        """The inode number of the file at ``path``."""
        found = self.resolve(path)
        if found is None or found == DIR or isinstance(self.inodes[found], Link):
            raise Refused(f"{path} is no file")
        return found

    def free(self, path, create_parent):
        if path == "/":
            raise Refused("the root")
        if create_parent:
            self.mkdirs(posixpath.dirname(path))
        elif self.resolve(posixpath.dirname(path)) != DIR:
            raise Refused(f"no directory for {path}")
        if self.kind(path) is not None:
            raise Refused(f"{path} exists")

    def link(self, existing, new):
        found = self.resolve(existing)
        if found is None or found == DIR:
            raise Refused(f"{existing} is missing or a directory")
        self.free(new, create_parent=False)
        self.entries[new] = found

    def symlink(self, target, path, create_parent):
        self.free(path, create_parent)
        self.entries[path] = self.new(Link(target))

    def rename(self, src, dst, overwrite):
        """HDFS's rename: False (v1) or refused (with overwrite) in the same cases; onto itself is True."""
        try:
            if self.resolve(src) is None:
                raise FileNotFoundError(src)
            existing, target = self.lookup(dst), dst
            if existing == DIR and not overwrite:
                target = posixpath.join(dst, posixpath.basename(src)).rstrip("/") or "/"
                existing = self.lookup(target)
            if existing is not None and (target == src or existing == self.kind(src) != DIR):
                return True  # onto itself, or onto another hard link of the same inode: nothing to do
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
        if existing is not None and (target == src or existing == self.kind(src) != DIR):
            raise Refused("onto itself, or onto another hard link of it")
        if existing == DIR or existing is not None and not (overwrite and self.kind(src) != DIR
                                                           and not isinstance(self.inodes[self.kind(src)], Link)):
            raise Refused("destination exists")
        if below(posixpath.dirname(target), src):
            raise Refused("into itself")
        self.remove(target)
        for p, v in self.tree(src).items():  # a copy is new inodes: hard links are not kept
            self.entries[target + p[len(src):]] = v if v == DIR else self.new(self.inodes[v])

    def concat(self, target, sources):
        number = self.file(target)
        for src in sources:
            if src == target or src not in self.entries or self.entries[src] == number:
                raise Refused(f"bad source {src}")
            self.inodes[number] += self.inodes[self.file(src)]
            del self.entries[src]

    def truncate(self, path, length):
        number = self.file(path)
        self.inodes[number] = self.inodes[number][:length].ljust(length, b"\0")  # growing adds a hole


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
        before = dict(self.model.entries), dict(self.model.inodes)
        try:
            expected = expect()
        except Refused as reason:
            self.model.entries, self.model.inodes = before
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
            self.model.inodes[self.model.file(path)] += data
        self.both(lambda: self.store.append(path, self.extents(data)), expect)

    @rule(into=PATHS, sources=st.lists(PATHS, min_size=1, max_size=2))
    def concat(self, into, sources):
        self.both(lambda: self.store.concat(into, sources), lambda: self.model.concat(into, sources))

    @rule(src=PATHS, dst=DESTINATIONS, overwrite=st.booleans())
    def copy(self, src, dst, overwrite):
        dst = dst(src)
        self.both(lambda: self.store.copy(src, dst, overwrite), lambda: self.model.copy(src, dst, overwrite))

    @rule(path=PATHS, length=st.integers(0, 16))
    def truncate(self, path, length):
        self.both(lambda: self.store.truncate(path, length), lambda: self.model.truncate(path, length))

    @rule(existing=PATHS, new=PATHS)
    def link(self, existing, new):
        self.both(lambda: self.store.link(existing, new), lambda: self.model.link(existing, new))

    @rule(destination=TARGETS, path=PATHS, create_parent=st.booleans())
    def symlink(self, destination, path, create_parent):
        self.both(lambda: self.store.symlink(destination, path, create_parent),
                  lambda: self.model.symlink(destination, path, create_parent))

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
        store_ids, referenced = {}, set()
        for path, number in self.model.entries.items():
            if number == DIR:
                continue
            inode, extents = result(self.store.stat(path))
            content = self.model.inodes[number]
            names = sum(n == number for n in self.model.entries.values())
            assert store_ids.setdefault(number, inode.id) == inode.id, f"{path}: another inode than its links'"
            assert inode.nlink == names, path
            if isinstance(content, Link):
                assert (inode.type, inode.target) == (SYMLINK, content), path
                continue
            stored = b"".join(bytes(e.length) if e.block_id is None else
                              self.blocks[e.block_id][e.block_offset:e.block_offset + e.length] for e in extents)
            assert (inode.size, stored) == (len(content), content), path
            referenced.update(e.block_id for e in extents if e.block_id is not None)
        assert len(set(store_ids.values())) == len(store_ids), "two model files share a store inode"
        # A file's blocks stay referenced while a name is left, and no longer.
        assert set(result(self.store.block_targets())) == referenced


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
