"""Extended attributes over WebHDFS (SETXATTR, GETXATTRS, LISTXATTRS, REMOVEXATTR) with HDFS's flags, name rules,
encodings, limits and errors, against a real cluster."""

import base64
import json

from test_webhdfs import op, put_file


def _ok(r):
    assert r.status_code == 200, r.text
    return r


def _set(cluster, path, name, value=None, flag="CREATE"):
    params = {"xattr.name": name, "flag": flag}
    if value is not None:
        params["xattr.value"] = value
    return op(cluster, "PUT", path, "SETXATTR", **params)


def _error(r, status, exception, message):
    assert r.status_code == status, r.text
    remote = r.json()["RemoteException"]
    assert remote["exception"] == exception and message in remote["message"], remote


def _names(cluster, path):
    return json.loads(_ok(op(cluster, "GET", path, "LISTXATTRS")).json()["XAttrNames"])


def test_set_get_list_and_remove_in_every_encoding(cluster, unique_dir):
    path = unique_dir + "/f"
    put_file(cluster, path, b"data")
    r = _ok(_set(cluster, path, "user.text", '"hello"'))
    assert r.content == b""
    _ok(_set(cluster, path, "user.hex", "0x00ff10"))
    _ok(_set(cluster, path, "user.b64", "0s" + base64.b64encode(b"\x01\x02").decode()))
    _ok(_set(cluster, path, "user.plain", "just text"))
    _ok(_set(cluster, path, "trusted.empty"))
    assert _names(cluster, path) == ["trusted.empty", "user.b64", "user.hex", "user.plain", "user.text"]
    r = _ok(op(cluster, "GET", path, "GETXATTRS", encoding="hex"))
    assert r.json() == {"XAttrs": [{"name": "trusted.empty", "value": "0x"}, {"name": "user.b64", "value": "0x0102"},
                                   {"name": "user.hex", "value": "0x00ff10"},
                                   {"name": "user.plain", "value": "0x" + b"just text".hex()},
                                   {"name": "user.text", "value": "0x" + b"hello".hex()}]}
    r = _ok(op(cluster, "GET", path, "GETXATTRS", **{"xattr.name": ["user.text", "user.hex"], "encoding": "TEXT"}))
    assert r.json() == {"XAttrs": [{"name": "user.text", "value": '"hello"'},
                                   {"name": "user.hex", "value": '"\x00\ufffd\x10"'}]}
    r = _ok(op(cluster, "GET", path, "GETXATTRS", **{"xattr.name": "user.hex", "encoding": "base64"}))
    assert r.json() == {"XAttrs": [{"name": "user.hex", "value": "0s" + base64.b64encode(b"\x00\xff\x10").decode()}]}
    _ok(op(cluster, "PUT", path, "REMOVEXATTR", **{"xattr.name": "user.hex"}))
    assert "user.hex" not in _names(cluster, path)


def test_hdfs_flags_names_and_errors(cluster, unique_dir):
    path = unique_dir + "/d"
    _ok(op(cluster, "PUT", path, "MKDIRS"))
    _ok(_set(cluster, path, "user.a", '"1"'))
    _error(_set(cluster, path, "user.a", '"2"'), 403, "IOException",
           "XAttr: user.a already exists. The REPLACE flag must be specified.")
    _error(_set(cluster, path, "user.b", '"2"', flag="REPLACE"), 403, "IOException",
           "XAttr: user.b does not exist. The CREATE flag must be specified.")
    _ok(_set(cluster, path, "user.a", '"2"', flag="REPLACE"))
    _ok(_set(cluster, path, "user.a", '"3"', flag="CREATE,REPLACE"))
    _error(_set(cluster, path, "user.c", '"x"', flag=""), 400, "IllegalArgumentException", "A flag must be specified.")
    _error(_set(cluster, path, "color", '"x"'), 400, "IllegalArgumentException",
           'Invalid value for webhdfs parameter "xattr.name"')
    _error(_set(cluster, path, "user.", '"x"'), 400, "IllegalArgumentException", "xattr.name")
    _error(_set(cluster, path, "system.x", '"x"'), 403, "AccessControlException",
           "User doesn't have permission for xattr: system.x")
    _error(op(cluster, "GET", path, "GETXATTRS", **{"xattr.name": ["user.a", "user.none"]}), 403, "IOException",
           "At least one of the attributes provided was not found.")
    _error(op(cluster, "PUT", path, "REMOVEXATTR", **{"xattr.name": "user.none"}), 403, "IOException",
           "No matching attributes found for remove operation")
    _error(_set(cluster, unique_dir + "/none", "user.a", '"1"'), 404, "FileNotFoundException", "does not exist")
    _error(op(cluster, "GET", unique_dir + "/none", "LISTXATTRS"), 404, "FileNotFoundException", "does not exist")


def test_size_and_count_limits(cluster, unique_dir):
    path = unique_dir + "/f"
    put_file(cluster, path, b"")
    largest = "0s" + base64.b64encode(b"v" * (16384 - 1)).decode()  # the name "a" and the value: 16384 bytes
    _ok(_set(cluster, path, "user.a", largest))
    too_big = "0s" + base64.b64encode(b"v" * 16384).decode()
    _error(_set(cluster, path, "user.a", too_big, flag="REPLACE"), 400, "IllegalArgumentException",
           "The XAttr is too big. The maximum combined size of the name and value is 16384, but the total size is"
           " 16385")
    for i in range(31):
        _ok(_set(cluster, path, f"user.n{i:02}", '"x"'))
    _error(_set(cluster, path, "user.one-more", '"x"'), 403, "IOException",
           "Cannot add additional XAttr to inode, would exceed limit of 32")
    _ok(_set(cluster, path, "user.n00", '"y"', flag="REPLACE"))
    assert len(_names(cluster, path)) == 32


def test_attributes_belong_to_the_inode(cluster, unique_dir):
    """Kept by a rename, copied by COPY (a directory's whole tree), gone with a delete."""
    put_file(cluster, unique_dir + "/d/f", b"data")
    _ok(_set(cluster, unique_dir + "/d", "user.dir", '"D"'))
    _ok(_set(cluster, unique_dir + "/d/f", "user.file", '"F"'))
    _ok(op(cluster, "PUT", unique_dir + "/d", "COPY", destination=unique_dir + "/copy"))
    assert _names(cluster, unique_dir + "/copy") == ["user.dir"]
    assert _names(cluster, unique_dir + "/copy/f") == ["user.file"]
    _ok(op(cluster, "PUT", unique_dir + "/copy/f", "REMOVEXATTR", **{"xattr.name": "user.file"}))
    assert _names(cluster, unique_dir + "/d/f") == ["user.file"]
    assert _ok(op(cluster, "PUT", unique_dir + "/d/f", "RENAME", destination=unique_dir + "/g")).json()["boolean"]
    assert _names(cluster, unique_dir + "/g") == ["user.file"]
    _ok(op(cluster, "DELETE", unique_dir + "/g", "DELETE"))
    put_file(cluster, unique_dir + "/g", b"new")
    assert _names(cluster, unique_dir + "/g") == []
