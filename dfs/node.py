"""`python -m dfs.node [ROLE [twistd options]]`: run one role in the foreground under twistd.

The role is the argument (`namenode`, `datanode`, or the plugin names `dfs-namenode`, `dfs-datanode`), else the
DFS_NODE_CLASS environment variable, as the original DFS chose it; the container image starts this way.
"""

import os
import sys

ROLES = {"namenode": "dfs-namenode", "datanode": "dfs-datanode"}


def twistd_command(role, args=()):
    """The argv that runs ``twistd -n <role>`` with this interpreter, with no pid file (a pid file left in a
    volume by a killed container would stop the next start)."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", role, *args]


def plugin_for(name):
    key = name.strip().lower().removeprefix("dfs-")
    if key not in ROLES:
        raise SystemExit(f"dfs.node: unknown role {name!r}: use namenode or datanode (or set DFS_NODE_CLASS)")
    return ROLES[key]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-"):
        role, rest = plugin_for(argv[0]), argv[1:]
    else:
        role, rest = plugin_for(os.environ.get("DFS_NODE_CLASS") or "namenode"), argv
    command = twistd_command(role, rest)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
