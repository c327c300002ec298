"""Unmodified WebHDFS clients from PyPI against dfs: HdfsCLI (`hdfs`) and fsspec's `webhdfs`."""

import getpass
import os
from urllib.parse import urlparse

import fsspec
import hdfs
import pytest
import requests

# The user the namenode runs as (the tests start it): its superuser, who alone may give a file away.
SUPERUSER = getpass.getuser()


@pytest.fixture
def unique_dir(unique_dir, cluster):
    """The test's directory, made writable by everyone by the superuser: the clients act as users who own nothing
    above it (the namenode checks permissions)."""
    response = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "MKDIRS", "permission": "777"})
    assert response.status_code == 200, response.text
    return unique_dir


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


def test_hdfscli_rename_into_a_directory_and_times_of_a_directory(cluster, unique_dir):
    """What HdfsCLI's own suite (v2.7.3) expects of rename and set_times (issue 16)."""
    client = hdfs.InsecureClient(cluster.url, user="alice", root=unique_dir)
    client.write("foo", b"hello")
    client.makedirs("bar")
    client.rename("foo", "bar")
    with client.read("bar/foo") as reader:
        assert reader.read() == b"hello"
    client.write("other", b"x")
    try:
        client.rename("other", "bar/foo")
    except hdfs.HdfsError:
        pass
    else:
        raise AssertionError("a rename onto an existing file must fail")
    client.set_times("bar", access_time=1234, modification_time=12345)
    status = client.status("bar")
    assert (status["accessTime"], status["modificationTime"], status["childrenNum"]) == (1234, 12345, 1)
    assert dict(client.list("", status=True))["bar"] == dict(status, pathSuffix="bar")


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


def test_hdfscli_files_attributes_and_trees(cluster, unique_dir, tmp_path):
    client = hdfs.InsecureClient(cluster.url, user="carol")
    base = unique_dir + "/attrs"
    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "top.bin").write_bytes(os.urandom(70_000))
    (local / "sub" / "deep.txt").write_bytes(b"deep\n")
    client.makedirs(base, permission="750")
    client.upload(base + "/tree", str(local))  # a local directory tree, file by file
    assert sorted(client.list(base + "/tree")) == ["sub", "top.bin"]
    assert [(top, sorted(files)) for top, _, files in client.walk(base + "/tree")] == [
        (base + "/tree", ["top.bin"]), (base + "/tree/sub", ["deep.txt"])]
    back = tmp_path / "back"
    client.download(base + "/tree", str(back))
    assert (back / "top.bin").read_bytes() == (local / "top.bin").read_bytes()
    assert (back / "sub" / "deep.txt").read_bytes() == b"deep\n"

    path = base + "/tree/top.bin"
    client.set_permission(path, permission="600")
    client.set_times(path, access_time=1_600_000_000_000, modification_time=1_500_000_000_000)
    client.set_replication(path, replication=2)
    checksum = client.checksum(path)
    assert checksum["algorithm"] == "MD5-of-0MD5-of-512CRC32C"
    assert len(bytes.fromhex(checksum["bytes"])) == checksum["length"] == 28
    hdfs.InsecureClient(cluster.url, user=SUPERUSER).set_owner(path, owner="dave", group="staff")
    status = client.status(path)
    assert (status["permission"], status["owner"], status["group"]) == ("600", "dave", "staff")
    assert (status["accessTime"], status["modificationTime"], status["replication"]) == (
        1_600_000_000_000, 1_500_000_000_000, 2)
    assert client.status(base)["permission"] == "750"
    assert client.content(base)["fileCount"] == 2
    client.delete(base, recursive=True)


def test_fsspec_files_and_attributes(cluster, unique_dir, tmp_path):
    address = urlparse(cluster.url)
    fs = fsspec.filesystem("webhdfs", host=address.hostname, port=address.port, user="erin")
    base = unique_dir + "/fa"
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(90_000))
    fs.makedirs(base + "/deep/er", exist_ok=True)
    fs.put_file(str(local), base + "/deep/er/up.bin")
    fs.get_file(base + "/deep/er/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == local.read_bytes()
    fs.touch(base + "/empty")
    assert fs.info(base + "/empty")["size"] == 0 and fs.isfile(base + "/empty") and fs.isdir(base + "/deep")
    fs.chmod(base + "/empty", 640)  # fsspec sends the number as written: WebHDFS reads it as octal
    fsspec.filesystem("webhdfs", host=address.hostname, port=address.port, user=SUPERUSER,
                      skip_instance_cache=True).chown(base + "/empty", owner="frank", group="ops")
    fs.set_replication(base + "/deep/er/up.bin", 1)
    info = fs.info(base + "/empty")
    assert (info["permission"], info["owner"], info["group"]) == ("640", "frank", "ops")
    assert fs.info(base + "/deep/er/up.bin")["replication"] == 1
    assert fs.du(base) == 90_000
    fs.rm(base, recursive=True)
    assert not fs.exists(base)
