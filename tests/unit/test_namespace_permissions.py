"""The namespace runs a request's permission checks inside the transaction of the operation they guard (denials on
both backends; the transaction watched on SQLite's)."""

import getpass

import pytest
from twisted.internet.task import Clock

from dfs.errors import AccessControlException, BadRequest, FileNotFound
from dfs.namenode.groups import CachedGroups, parse_groups_file
from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.permissions import ACTION_NAMES, EXECUTE, READ, WRITE, Checker, Permissions
from dfs.namenode.tap import NamenodeOptions, audit_path
from test_metadata import A, result


class Table:
    def __init__(self, text):
        self.table = parse_groups_file(text)
        self.asked = []

    def groups(self, user):
        self.asked.append(user)
        return self.table.get(user, ())


def with_alices_home(s):
    result(s.mkdirs("/home", 0o755, "hdfs"))
    result(s.mkdirs("/home/alice", 0o700, "alice", "alice"))
    result(s.create("/home/alice/f", [Extent(A, 0, 10, 10)], overwrite=False, mode=0o600, owner="alice"))
    return s


@pytest.fixture
def store(namespace):
    return with_alices_home(namespace)


@pytest.fixture
def sqlite_store(tmp_path):
    """For ``Watching``, which reads SQLite's transaction state."""
    s = SQLiteNamespace(str(tmp_path / "ns.sqlite"))
    s.start()
    yield with_alices_home(s)
    s.stop()


@pytest.fixture
def permissions():
    return Permissions(CachedGroups(Table("alice: alice staff\nbob: bob staff\n"), Clock()), "hdfs")


class Watching(Checker):
    """A checker that notes whether the store was inside a transaction when it was asked."""

    def __init__(self, checker, store):
        super().__init__(checker.caller, checker.enabled)
        self.store = store
        self.in_transaction = []

    def check_operation(self, *args, **kwargs):
        self.in_transaction.append(self.store._db.in_transaction)
        return super().check_operation(*args, **kwargs)


def test_a_denied_change_changes_nothing(store, permissions):
    bob = permissions.checker("bob")
    for change in (lambda: store.delete("/home/alice", True, bob),
                   lambda: store.rename("/home/alice/f", "/g", checker=bob),
                   lambda: store.set_permission("/home/alice", 0o777, bob),
                   lambda: store.create("/home/alice/f", [], overwrite=True, owner="bob", checker=bob)):
        with pytest.raises(AccessControlException):
            result(change())
    inode, extents = result(store.stat("/home/alice/f", permissions.checker("alice")))
    assert (inode.owner, inode.mode, len(extents)) == ("alice", 0o600, 1)
    assert result(store.status("/home/alice")).inode.mode == 0o700


def test_checks_run_inside_the_operations_transaction(sqlite_store, permissions):
    store = sqlite_store
    alice = Watching(permissions.checker("alice"), store)
    result(store.stat("/home/alice/f", alice))
    result(store.create("/home/alice/g", [], overwrite=False, owner="alice", checker=alice))
    result(store.delete("/home/alice/g", False, alice))
    assert alice.in_transaction == [True, True, True]


def test_the_superuser_costs_no_check(sqlite_store, permissions):
    store = sqlite_store
    superuser = Watching(permissions.checker_at_once("hdfs"), store)
    assert superuser.unchecked
    assert result(store.stat("/home/alice/f", superuser))[0].owner == "alice"
    assert superuser.in_transaction == []


def test_groups_are_looked_up_once_then_answered_at_once(permissions):
    assert permissions.checker_at_once("bob") is None  # not cached: the namenode asks on a thread
    assert permissions.checker("bob").caller.groups == {"bob", "staff"}
    assert permissions.checker_at_once("bob").caller.groups == {"bob", "staff"}
    assert permissions.groups.mapping.asked == ["bob"]
    assert permissions.checker_at_once("hdfs").caller.superuser
    assert not Permissions(None, "hdfs", enabled=False).checker_at_once("bob").enabled


def test_the_namenode_options(monkeypatch, tmp_path):
    monkeypatch.setenv("DFS_PERMISSIONS", "off")
    monkeypatch.setenv("DFS_SUPERGROUP", "admins")
    options = NamenodeOptions()
    options.parseOptions(["--superuser", "hdfs"])
    assert (options["permissions"], options["superuser"], options["supergroup"]) == (False, "hdfs", "admins")
    options = NamenodeOptions()
    options.parseOptions(["--permissions", "on"])
    assert options["permissions"] and options["superuser"] == getpass.getuser()
    assert audit_path(str(tmp_path / "nn.sqlite")) == str(tmp_path / "nn-audit.log")
    bad = tmp_path / "groups"
    bad.write_text("alice staff\n")
    with pytest.raises(SystemExit, match="groups:1: not a `user: group1 group2` line"):
        NamenodeOptions().parseOptions(["--groups-file", str(bad)])


def test_copy_concat_and_rename_check_every_path_they_name(store, permissions):
    result(store.mkdirs("/pub", 0o777, "hdfs"))
    result(store.create("/pub/bobs", [Extent(A, 0, 10, 10)], overwrite=False, owner="bob"))
    result(store.create("/pub/alices", [], overwrite=False, owner="alice"))
    bob = permissions.checker("bob")
    home = 'access=EXECUTE, inode="/home/alice":alice:alice:drwx------'
    for change, text in [
        (lambda: store.copy("/home/alice/f", "/pub/copy", checker=bob), home),
        (lambda: store.copy("/pub/bobs", "/home/alice", checker=bob), home),
        (lambda: store.copy("/pub/bobs", "/pub/alices", overwrite=True, checker=bob),
         'access=WRITE, inode="/pub/alices":alice:supergroup:-rw-r--r--'),
        (lambda: store.concat("/pub/bobs", ["/home/alice/f"], bob), home),
        (lambda: store.concat("/pub/alices", ["/pub/bobs"], bob),
         'access=WRITE, inode="/pub/alices":alice:supergroup:-rw-r--r--'),
        (lambda: store.rename("/pub/bobs", "/home/alice/g", checker=bob), home),
    ]:
        with pytest.raises(AccessControlException, match=f"^Permission denied: user=bob, {text}$"):
            result(change())
    assert result(store.copy("/pub/bobs", "/pub/mine", checker=bob))
    assert result(store.stat("/pub/mine"))[0].size == 10


def test_check_access_answers_for_the_access_asked(store, permissions):
    """CHECKACCESS (`hdfs dfs -test -r/-w`, FileSystem.access): the caller's class of the mode decides; the path
    is traversed first; nothing there is FileNotFound, for the superuser too."""
    alice, bob = permissions.checker("alice"), permissions.checker("bob")
    result(store.check_access("/home/alice/f", READ | WRITE, alice))
    result(store.check_access("/home", READ | EXECUTE, bob))
    for path, access in (("/home/alice/f", EXECUTE), ("/home", WRITE)):
        with pytest.raises(AccessControlException, match=f"access={ACTION_NAMES[access]}"):
            result(store.check_access(path, access, alice if path.endswith("f") else bob))
    with pytest.raises(AccessControlException, match="access=EXECUTE, inode=\"/home/alice\""):
        result(store.check_access("/home/alice/f", READ, bob))
    for checker in (alice, permissions.checker("hdfs"), None):
        with pytest.raises(FileNotFound):
            result(store.check_access("/home/alice/none", READ, checker))


def test_a_setgid_directory_gives_its_group_to_new_entries(namespace):
    """dfs keeps the setgid bit (2000) of directories for the mount: entries made in such a directory take its group,
    whatever group was asked for, and new directories its setgid bit too (POSIX); elsewhere the group asked for
    counts."""
    result(namespace.mkdirs("/team", 0o2775, "hdfs", "staff"))
    result(namespace.create("/team/f", [], overwrite=False, mode=0o644, owner="bob", group="bob"))
    result(namespace.mkdirs("/team/sub/deeper", 0o755, "bob", "bob"))
    result(namespace.symlink("f", "/team/link", owner="bob", group="bob"))
    result(namespace.create("/elsewhere", [], overwrite=False, mode=0o2755, owner="bob", group="bob"))
    result(namespace.create("/team/g", [], overwrite=False, owner="bob"))
    result(namespace.set_permission("/team/g", 0o6755))
    result(namespace.set_permission("/team/sub", 0o6755))
    modes = {path: (inode.group, inode.mode) for path in ("/team/f", "/team/sub", "/team/sub/deeper", "/team/link",
                                                         "/elsewhere", "/team/g")
             for inode in [result(namespace.stat(path))[0]]}
    assert modes == {"/team/f": ("staff", 0o644), "/team/sub": ("staff", 0o6755),
                     "/team/sub/deeper": ("staff", 0o2755), "/team/link": ("staff", 0o777),
                     "/elsewhere": ("bob", 0o2755), "/team/g": ("staff", 0o6755)}


def test_files_keep_setuid_and_setgid_until_posix_clears_them(store, permissions):
    """Issue 20: a file's setuid and setgid bits were dropped (pjdfstest chown/00, chmod/00). They are kept, and
    cleared as Linux clears them: by a change of owner or group (setgid only when the group may execute), by a
    write of a caller who is not a superuser, and a caller who may write may clear them (the kernel's kill after a
    write through the mount) but set nothing else."""
    alice, bob, hdfs = (permissions.checker(user) for user in ("alice", "bob", "hdfs"))
    result(store.mkdirs("/pub", 0o777, "hdfs"))

    def made(path, mode):
        result(store.create(path, [Extent(A, 0, 10, 10)], overwrite=False, mode=mode, owner="alice"))
        return path

    def mode_of(path):
        return result(store.stat(path))[0].mode

    prog = made("/pub/prog", 0o6755)
    assert mode_of(prog) == 0o6755
    result(store.set_owner(prog, group="staff", checker=alice))
    assert mode_of(prog) == 0o755
    result(store.set_permission(prog, 0o2745, alice))
    result(store.set_owner(prog, group="alice", checker=hdfs))
    assert mode_of(prog) == 0o2745, "setgid without group execute is kept (it marks locking)"
    result(store.mknod("/pub/fifo", "FIFO", 0o4644, owner="alice"))
    result(store.set_owner("/pub/fifo", owner="bob", checker=hdfs))
    assert mode_of("/pub/fifo") == 0o644

    shared = made("/pub/shared", 0o6777)
    for change in (lambda: store.set_permission(shared, 0o777, bob),  # drops more than setuid and setgid
                   lambda: store.set_permission(shared, 0o4777, bob)):
        result(store.set_permission(shared, 0o6776, alice))
        with pytest.raises(AccessControlException, match="is not the owner"):
            result(change())
    result(store.set_permission(shared, 0o6777, alice))
    result(store.set_permission(shared, 0o2777, bob))
    assert mode_of(shared) == 0o2777
    with pytest.raises(AccessControlException, match="is not the owner"):
        result(store.set_permission(shared, 0o6777, bob))
    result(store.set_permission("/pub/prog", 0o6744, alice))
    with pytest.raises(AccessControlException, match="access=WRITE"):
        result(store.set_permission("/pub/prog", 0o744, bob))
    result(store.set_permission(prog, 0o6555, alice))
    result(store.set_permission(prog, 0o555, alice))  # the kernel's chmod before the owner's chown (pjdfstest)
    assert mode_of(prog) == 0o555
    result(store.set_permission(prog, 0o6744, alice))

    for write in (lambda path, who: store.append(path, [Extent(A, 0, 10, 10)], who),
                  lambda path, who: store.truncate(path, 5, who),
                  lambda path, who: store.concat(path, [made(path + ".more", 0o644)], who)):
        result(store.set_permission(shared, 0o6777, alice))
        result(write(shared, hdfs))
        assert mode_of(shared) == 0o6777, "a superuser's write keeps them"
        result(write(shared, bob))
        assert mode_of(shared) == 0o777
    result(store.set_permission(shared, 0o6777, alice))
    result(store.create(shared, [], overwrite=True, owner="alice", checker=bob))
    assert mode_of(shared) == 0o6777, "an overwrite keeps them: the mount's upload after a chmod"
    directory = "/pub/setgid"
    result(store.mkdirs(directory, 0o6775, "alice", "alice"))
    result(store.set_owner(directory, group="staff", checker=alice))
    assert mode_of(directory) == 0o6775, "a directory keeps them (Linux)"
    result(store.copy(prog, "/pub/copy", owner="bob", checker=bob))
    assert mode_of("/pub/copy") == 0o744, "a copy given to another keeps neither"


def test_the_owner_sets_the_times_of_a_file_they_may_not_write(store, permissions):
    """Issue 20 (pjdfstest utimensat/06): SETTIMES asked write of the owner too, so `touch` by the owner of a 0444
    file through the mount failed with EACCES. POSIX lets the owner; others still need write."""
    alice, bob = permissions.checker("alice"), permissions.checker("bob")
    result(store.mkdirs("/pub", 0o777, "hdfs"))
    result(store.create("/pub/f", [], overwrite=False, mode=0o444, owner="alice"))
    result(store.set_times("/pub/f", mtime=1000, atime=2000, checker=alice))
    with pytest.raises(AccessControlException, match="user=bob, access=WRITE"):
        result(store.set_times("/pub/f", mtime=3000, checker=bob))
    result(store.set_permission("/pub/f", 0o666, alice))
    result(store.set_times("/pub/f", mtime=3000, checker=bob))
    inode = result(store.stat("/pub/f"))[0]
    assert (inode.mtime, inode.atime) == (3000, 2000)


def _statements(db):
    """The statements ``db`` runs from now on, each once (SQLite traces one again for every trigger it fires),
    without the transaction control and the commit numbering every transaction has."""
    seen = []

    def traced(statement):
        if statement.split()[0] in ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA"):
            return
        if not statement.startswith("INSERT INTO commits") and (not seen or seen[-1] != statement):
            seen.append(statement)

    db.set_trace_callback(traced)
    return seen


def test_a_checked_request_reads_its_path_once(sqlite_store, permissions):
    alice = permissions.checker("alice")
    seen = _statements(sqlite_store._db)
    assert result(sqlite_store.status("/home/alice/f", checker=alice)).inode.size == 10
    assert len(seen) == 4 + 1  # the root, home, alice, f; the file's holes
    del seen[:]
    result(sqlite_store.check_create("/home/alice/g", overwrite=True, checker=alice))
    assert len(seen) == 4  # the root, home, alice and the free name g
    del seen[:]
    result(sqlite_store.create("/home/alice/g", [Extent(A, 0, 10, 10)], overwrite=False, owner="alice",
                               checker=alice))
    inodes_read = [s for s in seen if s.startswith("SELECT i.id")]
    assert len(inodes_read) == 4 + 1  # the walk, then the new file as committed


def test_a_status_is_its_walk_and_one_statement(sqlite_store):
    seen = _statements(sqlite_store._db)
    status = result(sqlite_store.status("/home/alice"))
    assert (status.children, status.subdirectories, status.snapshot_enabled) == (1, 0, False)
    assert len(seen) == 3 + 1  # the root, home, alice; its counts and whether it is snapshottable, together
    result(sqlite_store.allow_snapshot("/home/alice"))
    assert result(sqlite_store.status("/home/alice")).snapshot_enabled
    del seen[:]
    assert result(sqlite_store.status("/home/alice/f")).holes == 0
    assert len(seen) == 4 + 1  # the walk; the file's holes


def test_no_quota_anywhere_costs_one_statement(sqlite_store):
    seen = _statements(sqlite_store._db)
    result(sqlite_store.check_quota("/home/alice/g", 10 * 3))
    assert seen == ["SELECT 1 FROM quotas LIMIT 1"]
    result(sqlite_store.set_quota("/home", names=100))
    del seen[:]
    result(sqlite_store.check_quota("/home/alice/g", 10 * 3))
    assert len(seen) > 1  # a quota: the walk to find it, and the count under it
