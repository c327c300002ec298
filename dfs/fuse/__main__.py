"""`python -m dfs.fuse MOUNTPOINT [HOST [PORT]]`: the original `dfs.py mount_point host [port]` form."""

import argparse
import sys

from dfs.fuse.mount import add_mount_arguments, run_mount


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dfs.fuse", description="Mount a dfs cluster as a directory.")
    add_mount_arguments(parser)
    return run_mount(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
