"""The client's umask: what mode a new entry asks the namenode for (Hadoop's client applies fs.permissions.umask-mode;
WebHDFS stores the mode as sent)."""

import json

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from dfs.client.config import resolve
from dfs.client.core import Client
from dfs.errors import BadRequest
from dfs.http import make_http


class Recorder(Resource):
    """A namenode that accepts every CREATE and MKDIRS and remembers the ``permission`` each one asked for."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.modes = []

    def render(self, request):
        request.content.read()
        self.modes.append((request.args[b"op"][0].decode(), request.args.get(b"permission", [b""])[0].decode()))
        if request.args[b"op"][0] == b"CREATE":
            request.setResponseCode(201)
            return b""
        return json.dumps({"boolean": True}).encode()


@pytest.mark.parametrize("umask, asked, sent", [
    (0o022, {}, [("MKDIRS", "755"), ("CREATE", "644")]),
    (0o027, {}, [("MKDIRS", "750"), ("CREATE", "640")]),
    (0o027, {"permission": 0o777}, [("MKDIRS", "750"), ("CREATE", "750")]),
    (0, {"permission": "1777"}, [("MKDIRS", "1777"), ("CREATE", "1777")]),
])
@pytest_twisted.ensureDeferred
async def test_new_entries_ask_for_their_mode_less_the_umask(umask, asked, sent):
    namenode = Recorder()
    port = reactor.listenTCP(0, Site(namenode), interface="127.0.0.1")
    http, pool = make_http(reactor)
    try:
        client = Client(http, f"http://127.0.0.1:{port.getHost().port}", umask=umask)
        await client.mkdir("/d", **asked)
        await client.write("/d/f", b"x", **asked)
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    assert namenode.modes == sent


def test_the_umask_comes_from_the_option_then_the_environment_then_the_config_file(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('umask = "077"\n')
    monkeypatch.setenv("DFS_CONFIG", str(config))
    monkeypatch.delenv("DFS_UMASK", raising=False)
    assert resolve()["umask"] == 0o077
    monkeypatch.setenv("DFS_UMASK", "027")
    assert resolve()["umask"] == 0o027
    assert resolve(umask=0)["umask"] == 0
    monkeypatch.setenv("DFS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("DFS_UMASK")
    assert resolve()["umask"] == 0o022
    with pytest.raises(BadRequest):
        resolve(umask="999")
