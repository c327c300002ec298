"""The SQLite side of the namespace's backups (dfs.namenode.backup): SQLite's online backup API into a checked file,
what a backup file holds, and putting a backup in place of a stopped namenode's database."""

import os
import shutil
import sqlite3
import time

from dfs.errors import IOFailure
from dfs.namenode.namespace.migrate import Refused, exclusive_sqlite

TEMPORARY = ".partial"


def holds_of(path):
    """[(since, upto)] of the commits the backup at ``path`` can read: from its oldest kept commit (history before it
    was trimmed) to the last, and each of its snapshots' commits."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            oldest, last = db.execute("SELECT MIN(number), MAX(number) FROM commits").fetchone()
            snapshots = [row[0] for row in db.execute("SELECT DISTINCT commit_number FROM snapshots")]
        finally:
            db.close()
    except sqlite3.Error as e:
        raise IOFailure(f"cannot read the backup {path}: {e}") from None
    return [(oldest, last)] + [(commit, commit) for commit in snapshots if commit < oldest]


def copy_database(source, target):
    """Copy the SQLite database ``source`` to ``target`` with the online backup API, check the copy and put it in
    place atomically. Refuses (ValueError) a copy that fails its integrity check."""
    partial = target + TEMPORARY
    try:
        live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            live.backup(copy)  # every page in one step: one read transaction, so one consistent state
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, whatever the source's mode
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            copy.close()
            live.close()
        if verdict != "ok":
            raise ValueError(f"the copy of {source} fails its integrity check: {verdict}")
        fsync_file(partial)
        os.rename(partial, target)
        sync_directory(os.path.dirname(target))
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return os.path.getsize(target)


def restore(backup, db_path, now=None):
    """Put the backup ``backup`` in place of the stopped namenode's database ``db_path`` (`dfs admin
    restore-backup`): the backup is checked first; a database a namenode has open is refused (migrate's exclusive
    lock); the database replaced, with its -wal and -shm files, is kept aside as ``<db>.replaced-<time>``. Returns
    that name (None when there was no database)."""
    if not os.path.isfile(backup):
        raise Refused(f"no backup at {backup}")
    checked = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        verdict = checked.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        verdict = str(e)
    finally:
        checked.close()
    if verdict != "ok":
        raise Refused(f"{backup} fails its integrity check: {verdict}")
    incoming = db_path + ".restoring"
    os.makedirs(os.path.dirname(os.path.abspath(db_path)), exist_ok=True)  # a new disk, after the old one died
    shutil.copyfile(backup, incoming)
    aside = None
    try:
        if os.path.exists(db_path):
            with exclusive_sqlite(db_path) as replaced:  # held while the files move: no namenode opens it meanwhile
                carry_epoch(replaced.db, incoming)
                moment = time.gmtime(time.time() if now is None else now)
                aside = db_path + time.strftime(".replaced-%Y%m%dT%H%M%SZ", moment)
                for suffix in ("-wal", "-shm", ""):
                    if os.path.exists(db_path + suffix):
                        os.rename(db_path + suffix, aside + suffix)
        fsync_file(incoming)
        os.rename(incoming, db_path)
    finally:
        if os.path.exists(incoming):
            os.remove(incoming)
    sync_directory(os.path.dirname(db_path))
    return aside


def carry_epoch(replaced, incoming):
    """Give the restored database the lease epoch of the one it replaces when that is newer: datanodes refuse a
    DELETE of an epoch older than one they saw, so GC would stay fenced off until they restart."""
    epoch = replaced.execute("SELECT MAX(epoch) FROM leader").fetchone()[0]
    if epoch is None:
        return
    db = sqlite3.connect(incoming, isolation_level=None)
    try:
        db.execute("INSERT INTO leader (id, holder, epoch, expires) VALUES (1, '', ?, 0) ON CONFLICT (id)"
                   " DO UPDATE SET epoch = MAX(epoch, excluded.epoch)", (epoch,))
    finally:
        db.close()


def fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def sync_directory(directory):
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
