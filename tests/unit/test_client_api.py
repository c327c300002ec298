"""The Python API documents itself: help(dfs.client.BlockingClient) lists every method with its docstring."""

import inspect
import pydoc

from dfs.client import BlockingClient, Client

WRITERS = ["write", "upload", "cp", "mv"]


def public_methods(cls):
    return {name: member for name, member in vars(cls).items() if not name.startswith("_") and callable(member)}


def test_every_public_method_has_a_docstring():
    for cls in (Client, BlockingClient):
        assert cls.__doc__
        undocumented = [name for name, method in public_methods(cls).items() if not inspect.getdoc(method)]
        assert undocumented == [], cls


def test_help_of_the_blocking_client_shows_every_method_with_its_signature():
    text = pydoc.render_doc(BlockingClient, renderer=pydoc.plaintext)
    for name, method in public_methods(Client).items():
        assert f"{name}{inspect.signature(method)}" in text


def test_no_write_method_replaces_a_file_by_default():
    defaults = {name: inspect.signature(getattr(Client, name)).parameters["overwrite"].default for name in WRITERS}
    assert defaults == dict.fromkeys(WRITERS, False)
