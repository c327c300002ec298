"""Unmodified WebHDFS clients from PyPI against dfs: HdfsCLI (`hdfs`) and fsspec's `webhdfs`."""

import os
from urllib.parse import urlparse

import fsspec
import hdfs


def test_hdfscli(cluster, unique_dir):
    client = hdfs.InsecureClient(cluster.url, user="alice")
    data = os.urandom(200_000)
    client.makedirs(unique_dir + "/h")
    client.write(unique_dir + "/h/f", data)
    assert client.status(unique_dir + "/h/f")["length"] == len(data)
    assert client.list(unique_dir + "/h") == ["f"]
    with client.read(unique_dir + "/h/f") as reader:
        assert reader.read() == data
    with client.read(unique_dir + "/h/f", offset=1000, length=5000) as reader:
        assert reader.read() == data[1000:6000]
    client.write(unique_dir + "/h/f", b"new", overwrite=True)
    with client.read(unique_dir + "/h/f") as reader:
        assert reader.read() == b"new"
    client.write(unique_dir + "/h/f", b"+more", append=True)
    with client.read(unique_dir + "/h/f") as reader:
        assert reader.read() == b"new+more"
    client.rename(unique_dir + "/h/f", unique_dir + "/h/g")
    assert client.list(unique_dir + "/h") == ["g"]
    assert client.content(unique_dir + "/h")["fileCount"] == 1
    assert client.status(unique_dir + "/h/missing", strict=False) is None
    try:
        client.write(unique_dir + "/h/g", b"x")
    except hdfs.HdfsError as e:
        assert "already exists" in str(e)
    else:
        raise AssertionError("overwriting without overwrite=True must fail")
    assert client.delete(unique_dir + "/h", recursive=True)
    assert client.status(unique_dir + "/h", strict=False) is None


def test_fsspec_webhdfs(cluster, unique_dir):
    address = urlparse(cluster.url)
    fs = fsspec.filesystem("webhdfs", host=address.hostname, port=address.port, user="bob")
    data = os.urandom(300_000)
    fs.mkdir(unique_dir + "/s")
    with fs.open(unique_dir + "/s/f", "wb") as f:
        f.write(data)
    assert fs.cat(unique_dir + "/s/f") == data
    assert [os.path.basename(p) for p in fs.ls(unique_dir + "/s", detail=False)] == ["f"]
    with fs.open(unique_dir + "/s/f", "rb") as f:
        f.seek(123_456)
        assert f.read(1000) == data[123_456:124_456]
    assert fs.info(unique_dir + "/s/f")["size"] == len(data)
    fs.mv(unique_dir + "/s/f", unique_dir + "/s/g")
    assert fs.exists(unique_dir + "/s/g") and not fs.exists(unique_dir + "/s/f")
    fs.rm(unique_dir + "/s", recursive=True)
    assert not fs.exists(unique_dir + "/s")
