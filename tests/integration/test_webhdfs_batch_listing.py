"""LISTSTATUS_BATCH, the paged listing Hadoop's client uses for every recursive command, asserted as its
JsonUtilClient.toDirectoryListing reads it, against a real cluster."""

import requests
from test_webhdfs import op, put_file

PAGE = 1000  # the namenode's default --list-limit, HDFS's dfs.ls.limit


def _batch(cluster, path, start_after=None):
    params = {} if start_after is None else {"startAfter": start_after}
    r = op(cluster, "GET", path, "LISTSTATUS_BATCH", **params)
    assert r.status_code == 200, r.text
    listing = r.json()["DirectoryListing"]
    assert set(listing) == {"partialListing", "remainingEntries"}
    return [s["pathSuffix"] for s in listing["partialListing"]["FileStatuses"]["FileStatus"]], \
        listing["remainingEntries"]


def test_a_2500_entry_directory_pages_in_thousands(cluster, unique_dir):
    names = sorted(f"d{i:05}" for i in range(2500))
    with requests.Session() as session:
        for name in names:
            r = session.put(f"{cluster.url}/webhdfs/v1{unique_dir}/big/{name}", params={"op": "MKDIRS"})
            assert r.status_code == 200, r.text
    pages, start_after = [], ""
    for _ in range(10):
        page, remaining = _batch(cluster, unique_dir + "/big", start_after)
        pages.append((len(page), remaining))
        start_after = page[-1] if page else start_after
        if not remaining:
            break
    assert pages == [(PAGE, 1500), (PAGE, 500), (500, 0)]
    first, _ = _batch(cluster, unique_dir + "/big")
    assert first == names[:PAGE]
    last, remaining = _batch(cluster, unique_dir + "/big", names[1999])
    assert last == names[2000:] and remaining == 0


def test_a_start_after_that_is_gone_continues_after_it_by_name(cluster, unique_dir):
    for name in ("a", "c", "e"):
        put_file(cluster, f"{unique_dir}/d/{name}", b"x")
    assert op(cluster, "DELETE", f"{unique_dir}/d/c", "DELETE").json() == {"boolean": True}
    assert _batch(cluster, unique_dir + "/d", "c") == (["e"], 0)
    assert _batch(cluster, unique_dir + "/d", "b") == (["e"], 0)
    assert _batch(cluster, unique_dir + "/d", "e") == ([], 0)


def test_a_file_is_its_own_listing_and_a_missing_path_is_404(cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"12345")
    r = op(cluster, "GET", unique_dir + "/f", "LISTSTATUS_BATCH")
    status = r.json()["DirectoryListing"]["partialListing"]["FileStatuses"]["FileStatus"]
    assert [(s["pathSuffix"], s["type"], s["length"]) for s in status] == [("", "FILE", 5)]
    assert r.json()["DirectoryListing"]["remainingEntries"] == 0
    # Each entry is LISTSTATUS's own FileStatus.
    listed = op(cluster, "GET", unique_dir, "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    batch = op(cluster, "GET", unique_dir, "LISTSTATUS_BATCH").json()["DirectoryListing"]["partialListing"]
    assert batch["FileStatuses"]["FileStatus"] == listed
    r = op(cluster, "GET", unique_dir + "/none", "LISTSTATUS_BATCH")
    assert r.status_code == 404 and r.json()["RemoteException"]["exception"] == "FileNotFoundException"
