"""The status pages both roles serve: HTML, CSS and JavaScript shipped in ``dfs/static`` and served as they are."""

import os

from dfs.errors import FileNotFound

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
TYPES = {".html": b"text/html; charset=utf-8", ".css": b"text/css; charset=utf-8",
         ".js": b"text/javascript; charset=utf-8"}


def _load():
    """Every asset, read once at start: a few kilobytes, and no disk read on the reactor afterwards."""
    assets = {}
    for name in sorted(os.listdir(STATIC)):
        content_type = TYPES.get(os.path.splitext(name)[1])
        if content_type is not None:
            with open(os.path.join(STATIC, name), "rb") as f:
                assets[name] = (content_type, f.read())
    return assets


ASSETS = _load()


def asset(request, name):
    """The body of the shipped file ``name``; any other name is a 404, so a name can never reach elsewhere."""
    try:
        content_type, body = ASSETS[name]
    except KeyError:
        raise FileNotFound(f"no such page or asset: {name}") from None
    request.setHeader(b"Content-Type", content_type)
    request.setHeader(b"Cache-Control", b"no-cache")
    return body
