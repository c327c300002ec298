"""Versioned schemas: ``<backend>/NNNN_name.sql`` files, applied in order at start-up, each in one transaction,
the version recorded in the database's ``schema_version`` table."""

import re
from importlib import resources

from dfs.errors import IOFailure

FILE_NAME = re.compile(r"(\d{4})_\w+\.sql")


class SchemaTooNew(IOFailure):
    """The database was written by a newer dfs than this one: it is not opened, so nothing newer is damaged."""


def scripts(backend):
    """[(version, SQL text)] of ``backend``'s schema files, in version order."""
    found = []
    for item in resources.files(__name__).joinpath(backend).iterdir():
        match = FILE_NAME.fullmatch(item.name)
        if match:
            found.append((int(match.group(1)), item.read_text(encoding="utf-8")))
    found.sort()
    if [version for version, _ in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {backend} schema files are not numbered 1..{len(found)}")
    return found


def latest(backend):
    return len(scripts(backend))
