"""Where trash lives and how its names read, as Hadoop's TrashPolicyDefault names them: ``/user/<user>/.Trash``
holds ``Current`` (what was removed since the last checkpoint, under its original path) and checkpoints named by
the time they were made (``yyMMddHHmmss``, UTC here, with ``-N`` when two fall in one second). Shared by the
namenode's emptier and the clients that move paths into trash."""

from datetime import datetime, timezone

from dfs import paths

TRASH = ".Trash"
CURRENT = "Current"
CHECKPOINT_FORMAT = "%y%m%d%H%M%S"
CHECKPOINT_DIGITS = 12
# A name that clashes in Current gets the time in milliseconds appended (Hadoop's rule): 13 digits since 2001.
SUFFIX_DIGITS = 13
# Hadoop's TrashPolicyDefault makes trash directories readable by their owner only.
TRASH_MODE = 0o700


def root_of(user):
    return f"/user/{paths.check_name(user)}/{TRASH}"


def is_in_trash(path):
    """True for a trash root and anything below it (removing such a path deletes it for real)."""
    parts = paths.split(path)
    return len(parts) >= 3 and parts[0] == "user" and parts[2] == TRASH


def checkpoint_name(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(CHECKPOINT_FORMAT)


def checkpoint_time(name):
    """When the checkpoint ``name`` was made (seconds since the epoch), None for a name that is no checkpoint."""
    stamp = name.split("-", 1)[0]
    if len(stamp) != CHECKPOINT_DIGITS or not stamp.isdigit():
        return None
    try:
        return datetime.strptime(stamp, CHECKPOINT_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def original_path(trash_path):
    """(the path something in trash was removed from, the Current or checkpoint directory it is in), from a path
    below ``/user/<user>/.Trash/<Current or checkpoint>``; a collision suffix is dropped from the last name."""
    parts = paths.split(trash_path)
    if not is_in_trash(trash_path) or len(parts) < 5:
        raise ValueError(f"{trash_path} is not inside a trash checkpoint")
    return "/" + "/".join(parts[4:-1] + [removed_name(parts[-1])]), parts[3]


def removed_name(name):
    """The name something in trash had before a clash in Current appended the time to it."""
    if len(name) > SUFFIX_DIGITS and name[-SUFFIX_DIGITS:].isdigit():
        return name[:-SUFFIX_DIGITS]
    return name
