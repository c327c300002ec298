"""The WebHDFS ops Hadoop's own client (WebHdfsFileSystem) calls besides the file ones, and GETFILECHECKSUM in
Hadoop's form, asserted as that client parses them (JsonUtilClient), against a real cluster."""

import os

import hdfs
import requests
from files import flip_byte
from test_webhdfs import op, put_file, url

from dfs.hadoop_checksum import of_blocks


def test_server_defaults_as_hadoop_reads_them(cluster):
    defaults = op(cluster, "GET", "/", "GETSERVERDEFAULTS").json()["FsServerDefaults"]
    status = requests.get(cluster.url + "/cluster").json()
    assert defaults == {
        "blockSize": status["block_size"], "bytesPerChecksum": 512, "writePacketSize": 65536,
        "replication": status["replication"], "fileBufferSize": 4096, "encryptDataTransfer": False,
        "trashInterval": 1440, "checksumType": 2, "keyProviderUri": "", "defaultStoragePolicyId": 7,
    }


def test_status_is_the_datanodes_space(cluster):
    fs = op(cluster, "GET", "/", "GETSTATUS").json()["FsStatus"]
    totals = requests.get(cluster.url + "/cluster").json()["totals"]
    assert set(fs) == {"capacity", "used", "remaining"}
    assert fs["capacity"] == totals["capacity"] > 0 and fs["remaining"] == totals["free"] > 0 and fs["used"] >= 0


def test_quota_usage_counts_names_and_replicated_bytes(cluster, unique_dir):
    put_file(cluster, unique_dir + "/q/a", b"x" * 1000, replication=2)
    put_file(cluster, unique_dir + "/q/sub/b", b"y" * 10, replication=1)
    usage = op(cluster, "GET", unique_dir + "/q", "GETQUOTAUSAGE").json()["QuotaUsage"]
    assert usage == {"fileAndDirectoryCount": 4, "quota": -1, "spaceConsumed": 2010, "spaceQuota": -1,
                     "typeQuota": {}}
    assert op(cluster, "GET", unique_dir + "/none", "GETQUOTAUSAGE").status_code == 404


HOT = {"copyOnCreateFile": False, "creationFallbacks": [], "id": 7, "name": "HOT",
       "replicationFallbacks": ["ARCHIVE"], "storageTypes": ["DISK"]}


def test_storage_policies_of_one_storage_type(cluster, unique_dir):
    put_file(cluster, unique_dir + "/p", b"data")
    assert op(cluster, "GET", unique_dir + "/p", "GETSTORAGEPOLICY").json() == {"BlockStoragePolicy": HOT}
    every = op(cluster, "GET", "/", "GETALLSTORAGEPOLICY").json()
    assert every == {"BlockStoragePolicies": {"BlockStoragePolicy": [HOT]}}
    assert op(cluster, "GET", unique_dir + "/none", "GETSTORAGEPOLICY").status_code == 404
    r = op(cluster, "PUT", unique_dir + "/p", "SETSTORAGEPOLICY", storagepolicy="hot")
    assert r.status_code == 200 and r.content == b""
    r = op(cluster, "PUT", unique_dir + "/p", "SETSTORAGEPOLICY", storagepolicy="COLD")
    assert r.status_code == 400 and "HOT is the only storage policy" in r.json()["RemoteException"]["message"]
    assert op(cluster, "PUT", unique_dir + "/p", "SETSTORAGEPOLICY").status_code == 400
    assert op(cluster, "POST", unique_dir + "/p", "UNSETSTORAGEPOLICY").status_code == 200
    assert op(cluster, "POST", unique_dir + "/none", "UNSETSTORAGEPOLICY").status_code == 404


def test_trash_root_of_the_user_and_trash_roots_only_where_there_is_trash(cluster, unique_dir):
    r = op(cluster, "GET", unique_dir + "/f", "GETTRASHROOT", **{"user.name": "carol"})
    assert r.json() == {"Path": "/user/carol/.Trash"}
    assert op(cluster, "GET", "/", "GETTRASHROOTS", **{"user.name": "carol"}).json() == {"Paths": []}


def _extent_lengths(cluster, path):
    locations = op(cluster, "GET", path, "GETFILEBLOCKLOCATIONS").json()["BlockLocations"]["BlockLocation"]
    return [loc["length"] for loc in locations]


def _expected(data, lengths):
    edges = [0]
    for length in lengths:
        edges.append(edges[-1] + length)
    assert edges[-1] == len(data)
    name, raw = of_blocks([data[a:b] for a, b in zip(edges, edges[1:])])
    return {"algorithm": name, "bytes": raw.hex(), "length": 28}


def test_checksum_of_a_multi_block_file_in_hadoops_form(cluster, unique_dir):
    data = os.urandom(5000)
    put_file(cluster, unique_dir + "/m", data, blocksize=2048)
    lengths = _extent_lengths(cluster, unique_dir + "/m")
    assert lengths == [2048, 2048, 904]
    checksum = op(cluster, "GET", unique_dir + "/m", "GETFILECHECKSUM").json()["FileChecksum"]
    assert checksum == _expected(data, lengths) and checksum["algorithm"] == "MD5-of-4MD5-of-512CRC32C"
    # HdfsCLI reads the same answer; a copy with the same bytes and layout has the same checksum.
    put_file(cluster, unique_dir + "/m2", data, blocksize=2048)
    client = hdfs.InsecureClient(cluster.url, user="dfs")
    assert client.checksum(unique_dir + "/m2") == checksum
    # After a truncate the last extent ends mid-chunk: its chunks are checksummed over its own bytes.
    assert op(cluster, "POST", unique_dir + "/m", "TRUNCATE", newlength=4500).json() == {"boolean": True}
    checksum = op(cluster, "GET", unique_dir + "/m", "GETFILECHECKSUM").json()["FileChecksum"]
    assert checksum == _expected(data[:4500], _extent_lengths(cluster, unique_dir + "/m"))
    # The SHA-256 stays reachable as dfs's extension.
    sha = requests.get(*url(cluster, unique_dir + "/m", op="GETFILECHECKSUM", algorithm="sha-256")).json()
    assert sha["FileChecksum"]["algorithm"] == "SHA-256"


def test_checksum_of_an_empty_file_is_hdfss(cluster, unique_dir):
    put_file(cluster, unique_dir + "/e", b"")
    checksum = op(cluster, "GET", unique_dir + "/e", "GETFILECHECKSUM").json()["FileChecksum"]
    assert checksum == {"algorithm": "MD5-of-0MD5-of-0CRC32", "length": 28,
                        "bytes": "00" * 12 + "70bc8f4b72a86921468bf8e8441dce51"}


def test_checksum_skips_rotten_replicas(make_cluster):
    """Each extent's MD5 comes from chunk-verified bytes: with a byte flipped on two of three replicas' disks, a
    rotten holder refuses whichever order the namenode asks them in, and the answer is the good replica's."""
    cluster = make_cluster(datanodes=3)
    data = os.urandom(3000)
    put_file(cluster, "/r", data, replication=3)
    [location] = op(cluster, "GET", "/r", "GETFILEBLOCKLOCATIONS").json()["BlockLocations"]["BlockLocation"]
    holders = [i for i, node in enumerate(cluster.datanodes)
               if any(url.startswith(node.url) for url in location["internalUrls"])]
    assert len(holders) == 3
    for rotten in holders[:2]:
        flip_byte(cluster.block_files(rotten)[location["blockId"]], 1000)
    checksum = op(cluster, "GET", "/r", "GETFILECHECKSUM").json()["FileChecksum"]
    assert checksum == _expected(data, [3000])
