"""The FUSE mount (`dfs mount`): a thin bridge (libfuse's low-level API) from POSIX file operations to the same
client the CLI uses."""

from dfs.fuse.mount import add_mount_arguments, run_mount

__all__ = ["add_mount_arguments", "run_mount"]
