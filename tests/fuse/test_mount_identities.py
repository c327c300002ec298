"""One mount, several local users (-o allow_other: each request acts for its caller): uids 1001 and 1002, which have
no names on this host, run programs in the mount through setpriv; the namenode sees each as its own user."""

import errno
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

import pytest
import requests

from cluster import Cluster, wait_for_lines
from test_mount import Mount, _fuse_missing, _name_quota, unmount, wait_until

pytestmark = pytest.mark.skipif(_fuse_missing() is not None or shutil.which("setpriv") is None or os.geteuid() != 0,
                                reason="needs FUSE, setpriv and root (to act as other uids)")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A cluster whose superuser (this test's user, root) may impersonate anyone, a 1777 /tmp and a 770 /team of
    group 2000, mounted with allow_other where other uids can reach it (pytest's own directories are 700)."""
    root = tmp_path_factory.mktemp("identities")
    (root / "proxy").write_text("root: users=*\n")
    cluster = Cluster(root / "cluster", datanodes=1, namenode_args=[
        "--replication", "1", "--min-replicas", "1", "--proxy-users", str(root / "proxy"),
        "--audit-log", str(root / "audit.log")]).start()
    cluster.audit_log = str(root / "audit.log")
    for path, permission, group in (("/tmp", "1777", None), ("/team", "770", "2000")):
        webhdfs(cluster, "PUT", path, "MKDIRS", permission=permission)
        webhdfs(cluster, "PUT", path, "SETPERMISSION", permission=permission)
        if group:
            webhdfs(cluster, "PUT", path, "SETOWNER", group=group)
    top = tempfile.mkdtemp(prefix="dfs-identities-")
    os.chmod(top, 0o755)
    os.makedirs(root / "cache")
    mount = Mount(cluster.url, os.path.join(top, "mnt"), root / "mount.log", "-o",
                  f"allow_other,cache_dir={root / 'cache'}")
    try:
        mount.start()
        mount.cluster = cluster
        yield mount
        assert mount.stop() == 0, mount.log()
        assert "Traceback" not in mount.log(), mount.log()
    finally:
        unmount(mount.path)
        mount.stop()
        shutil.rmtree(top, ignore_errors=True)
        cluster.stop()


def webhdfs(cluster, method, path, op, **params):
    response = requests.request(method, f"{cluster.url}/webhdfs/v1{path}", params={"op": op, **params}, timeout=30)
    assert response.status_code == 200, response.text
    return response


def run_as(uid, script, groups=()):
    """``sh -c script`` as ``uid`` (its gid the same number), with the supplementary ``groups`` only."""
    identity = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", *identity, "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)


def test_files_belong_to_their_creator_and_stay_private(shared):
    private = shared.path + "/tmp/diary-1001"
    made = run_as(1001, f"umask 077 && echo secret > {private} && cat {private}")
    assert (made.returncode, made.stdout, made.stderr) == (0, "secret\n", "")
    st = os.stat(private)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1001, 1001, 0o600)
    status = webhdfs(shared.cluster, "GET", "/tmp/diary-1001", "GETFILESTATUS").json()["FileStatus"]
    assert (status["owner"], status["group"]) == ("1001", "1001")
    refused = run_as(1002, f"cat {private}")
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    assert run_as(1002, f"echo mine > {private}").returncode != 0
    assert run_as(1002, f"rm -f {private}").returncode != 0  # the sticky /tmp
    assert open(private).read() == "secret\n"  # root, the mount's own user, reads everything


def test_a_directory_made_by_a_caller_is_theirs(shared):
    made = run_as(1002, f"mkdir {shared.path}/tmp/dir-1002 && touch {shared.path}/tmp/dir-1002/f")
    assert made.returncode == 0, made.stderr
    for name in ("dir-1002", "dir-1002/f"):
        st = os.stat(f"{shared.path}/tmp/{name}")
        assert (st.st_uid, st.st_gid) == (1002, 1002)


def test_supplementary_groups_come_from_the_caller(shared):
    team = shared.path + "/team"
    allowed = run_as(1002, f"echo plan > {team}/plan && ls {team}", groups=[2000])
    assert (allowed.returncode, allowed.stdout) == (0, "plan\n"), allowed.stderr
    assert run_as(1001, f"ls {team}").returncode != 0


def test_the_audit_trail_names_the_caller_and_the_mount(shared):
    assert run_as(1001, f"touch {shared.path}/tmp/audited").returncode == 0
    wait_for_lines(shared.cluster.audit_log, [
        "allowed=true\tugi=1001 (auth:PROXY) via root (auth:SIMPLE)\tip=/127.0.0.1\tcmd=create\tsrc=/tmp/audited"
        "\tdst=null\tperm=1001:1001:rw-r--r--\tproto=webhdfs\n"])


def test_a_setgid_directory_gives_its_group(shared):
    setgid = shared.path + "/tmp/setgid"
    os.mkdir(setgid)
    os.chown(setgid, -1, 3000)
    os.chmod(setgid, 0o2777)
    assert os.stat(setgid).st_mode & 0o7777 == 0o2777
    made = run_as(1001, f"touch {setgid}/f && mkdir {setgid}/d && touch {shared.path}/tmp/plain")
    assert made.returncode == 0, made.stderr
    inside, below, plain = (os.stat(f"{setgid}/f"), os.stat(f"{setgid}/d"), os.stat(f"{shared.path}/tmp/plain"))
    assert (inside.st_uid, inside.st_gid) == (1001, 3000)
    assert (below.st_uid, below.st_gid, bool(below.st_mode & 0o2000)) == (1001, 3000, True)
    assert (plain.st_uid, plain.st_gid) == (1001, 1001)


def test_a_new_file_is_the_callers_at_once(shared):
    """Before its first upload too: the kernel checks the caller against the attributes the create answered."""
    fresh = shared.path + "/tmp/fresh-1001"
    made = run_as(1001, f": > {fresh} && chmod 640 {fresh} && stat -c %u:%g:%a {fresh}")
    assert (made.returncode, made.stdout, made.stderr) == (0, "1001:1001:640\n", "")


def test_setuid_and_setgid_are_kept_cleared_as_posix_says_and_never_honoured(shared):
    """Issue 20: a file's setuid and setgid bits were dropped (pjdfstest chown/00). They are kept; the kernel clears
    them after another caller's write and on chown (its chmod reaches the namenode as the writer, who may clear
    them); the mount is nosuid, so a setuid-root program from the cluster runs as its caller."""
    prog, shared_file = shared.path + "/tmp/prog-1001", shared.path + "/tmp/open-1001"
    made = run_as(1001, f"echo x > {prog} && chmod 6555 {prog} && echo x > {shared_file} && chmod 4777 {shared_file}"
                        f" && stat -c %a {prog} {shared_file}", groups=[2000])
    assert (made.returncode, made.stdout, made.stderr) == (0, "6555\n4777\n", "")
    status = webhdfs(shared.cluster, "GET", "/tmp/prog-1001", "GETFILESTATUS").json()["FileStatus"]
    assert status["permission"] == "6555"

    written = run_as(1002, f"echo more >> {shared_file} && stat -c %a {shared_file}")
    assert (written.returncode, written.stdout, written.stderr) == (0, "777\n", "")
    chgrp = run_as(1001, f"chgrp 2000 {prog} && stat -c %a:%g {prog}", groups=[2000])
    assert (chgrp.returncode, chgrp.stdout, chgrp.stderr) == (0, "555:2000\n", "")  # the owner may not write it: clears anyway
    assert webhdfs(shared.cluster, "GET", "/tmp/prog-1001", "GETFILESTATUS").json()["FileStatus"]["permission"] == "555"

    options = next(line.split()[3] for line in open("/proc/mounts") if line.split()[1] == shared.path)
    assert {"nosuid", "nodev"} <= set(options.split(","))
    setuid_id = shared.path + "/tmp/id"
    shutil.copy("/usr/bin/id", setuid_id)
    os.chmod(setuid_id, 0o4755)
    assert os.stat(setuid_id).st_mode & 0o7777 == 0o4755
    ran = run_as(1002, f"{setuid_id} -u && {setuid_id} -ur")
    assert (ran.returncode, ran.stdout) == (0, "1002\n1002\n"), ran.stderr


def test_the_owner_touches_a_read_only_file_and_a_writer_anothers(shared):
    """Issue 20 (pjdfstest utimensat/06): `touch` (utimensat UTIME_NOW) by the owner of a 0444 file failed with
    EACCES; POSIX allows it, and allows it to anyone who may write the file."""
    own, open_to_all = shared.path + "/tmp/ro-1001", shared.path + "/tmp/rw-1001"
    made = run_as(1001, f": > {own} && : > {open_to_all} && chmod 444 {own} && chmod 666 {open_to_all}"
                        f" && touch -d @1000000000 {own} && touch {own} && touch -d @1000000000 {open_to_all}")
    assert (made.returncode, made.stderr) == (0, "")
    assert os.stat(own).st_mtime > 1000000000
    touched = run_as(1002, f"touch {open_to_all}")
    assert (touched.returncode, touched.stderr) == (0, "")
    assert os.stat(open_to_all).st_mtime > 1000000000
    refused = run_as(1002, f"touch -d @1000000000 {open_to_all}")  # a time of one's own choosing: the owner's
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr


def test_a_write_only_file_opens_for_writing(shared):
    """Issue 20 (pjdfstest open/06): opening a file its caller may write but not read (mode 0200) for writing failed
    with EACCES: the open located the file's blocks, which asks read access."""
    path = shared.path + "/tmp/wo-1001"
    opened = run_as(1001, f"echo x > {path} && chmod 200 {path} && : >> {path} && truncate -s 1 {path}"
                          f" && stat -c %a:%s {path}")
    assert (opened.returncode, opened.stdout, opened.stderr) == (0, "200:1\n", "")
    assert run_as(1001, f"cat {path}").returncode != 0


def test_a_chmod_between_a_write_and_the_close_is_kept(shared):
    """A file written through the mount reaches the cluster at close, after a chmod made while it was open (cp -p
    onto an existing file): the upload must not clear the setuid bit that chmod set after the write."""
    path = shared.path + "/tmp/late-1001"
    program = (f"import os; fd = os.open({path!r}, os.O_RDWR); os.write(fd, b'new'); os.fchmod(fd, 0o4755);"
               f" os.close(fd); print(oct(os.stat({path!r}).st_mode & 0o7777), open({path!r}).read())")
    made = run_as(1001, f"echo old > {path} && python3 -c \"{program}\"")
    assert (made.returncode, made.stdout, made.stderr) == (0, "0o4755 new\n\n", "")
    status = webhdfs(shared.cluster, "GET", "/tmp/late-1001", "GETFILESTATUS").json()["FileStatus"]
    assert status["permission"] == "4755"


@contextmanager
def writeback_mount(cluster, tmp_path):
    """A second mount of ``cluster``, -o allow_other,writeback, where other uids can reach it."""
    top = tempfile.mkdtemp(prefix="dfs-identities-wb-")
    os.chmod(top, 0o755)
    mount = Mount(cluster.url, os.path.join(top, "mnt"), tmp_path / "mount.log", "-o",
                  f"allow_other,writeback,cache_dir={tmp_path}")
    try:
        mount.start()
        yield mount
    finally:
        unmount(mount.path)
        mount.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_writeback_a_file_is_uploaded_for_whoever_closed_it(shared, tmp_path):
    """-o writeback: the upload after close acts for the user who wrote and closed the file. Before, it acted for
    the last release's caller, which the kernel sends as root: the file was root's on the cluster, and the upload
    passed the cluster's permission checks as root."""
    cluster = shared.cluster
    with writeback_mount(cluster, tmp_path) as mount:
        wrote = run_as(1001, f"echo mine > {mount.path}/tmp/wb-closed-1001")
        assert wrote.returncode == 0, wrote.stderr
        assert mount.stop() == 0, mount.log()  # the unmount waits for the upload
        status = webhdfs(cluster, "GET", "/tmp/wb-closed-1001", "GETFILESTATUS").json()["FileStatus"]
        assert (status["owner"], status["length"]) == ("1001", 5)


def test_writeback_fsync_of_a_directory_uploads_a_pending_file_for_whoever_closed_it(shared, tmp_path):
    """-o writeback: fsync of a directory by another user sends a file's pending upload as its worker would, acting
    for whoever closed the file: the file is theirs on the cluster, not the fsync's caller's."""
    cluster = shared.cluster
    with writeback_mount(cluster, tmp_path) as mount:
        directory = mount.path + "/tmp/wb-1001"
        made = run_as(1001, f"mkdir {directory}")
        assert made.returncode == 0, made.stderr
        _name_quota(cluster, "/tmp/wb-1001", 1)  # the directory itself: the upload after close is refused
        wrote = run_as(1001, f"echo mine > {directory}/f")
        assert wrote.returncode == 0, wrote.stderr
        wait_until(lambda: re.search(r"wb-1001/f\b.* failed", mount.log()), 60, "the failed upload")
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(OSError) as refused:
                os.fsync(fd)
            assert refused.value.errno == errno.EDQUOT
            _name_quota(cluster, "/tmp/wb-1001", -1)
            os.fsync(fd)
        finally:
            os.close(fd)
        owner = webhdfs(cluster, "GET", "/tmp/wb-1001", "GETFILESTATUS").json()["FileStatus"]["owner"]
        status = webhdfs(cluster, "GET", "/tmp/wb-1001/f", "GETFILESTATUS").json()["FileStatus"]
        assert (status["owner"], status["length"]) == (owner, 5)
        assert mount.stop() == 0, mount.log()
