"""`dfs mount`: its arguments are parsed here; the FUSE bridge, `dfs.fuse.run_mount(args)`, is imported only to mount.

Importing dfs.fuse loads fusepy and looks for libfuse, which every other command can do without.
"""

import importlib

from dfs.cli.errors import Failure

DEFAULT_PORT = 8180


def register(commands):
    if commands.in_shell:
        return
    p = commands.add("mount", mount, "mount the file system with FUSE",
                     description="Mount dfs at MOUNTPOINT. The namenode is --namenode URL, else HOST [PORT] (the "
                                 "original DFS's form), else the usual default.")
    p.add_argument("mountpoint", metavar="MOUNTPOINT", help="an empty directory to mount the cluster on")
    p.add_argument("host", nargs="?", metavar="HOST", help="namenode host (instead of --namenode)")
    p.add_argument("port", nargs="?", type=int, metavar="PORT", help=f"namenode port (default {DEFAULT_PORT})")
    p.add_argument("-f", "--foreground", action="store_true", help="stay in the foreground")
    p.add_argument("-o", dest="options", action="append", metavar="OPT[,OPT...]",
                   help="mount options: FUSE's (allow_other, ro, ...) and dfs's (cache_size=MiB, cache_dir=DIR)")


def mount(session, args):
    try:
        fuse = importlib.import_module("dfs.fuse")
    except ModuleNotFoundError as e:
        if e.name != "dfs.fuse":
            raise Failure(args.mountpoint, f"FUSE support needs the {e.name} module") from None
        raise Failure(args.mountpoint, "this dfs has no FUSE support (dfs.fuse is missing)") from None
    run = getattr(fuse, "run_mount", None)
    if run is None:
        raise Failure(args.mountpoint, "dfs.fuse has no run_mount(args)")
    return run(args)
