import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfs import paths
from dfs.errors import BadRequest, NameTooLong, PathTooLong

names = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1,
                max_size=30).filter(lambda n: n not in (".", ".."))


@given(st.lists(names, max_size=8))
def test_normalize_is_idempotent_and_absolute(parts):
    path = "/" + "/".join(parts)
    try:
        canonical = paths.normalize(path)
    except BadRequest:
        return  # over-long names are refused, and that's fine
    assert canonical.startswith("/")
    assert paths.normalize(canonical) == canonical
    assert "//" not in canonical


@given(st.text(max_size=200))
def test_normalize_never_lets_traversal_or_control_through(text):
    try:
        canonical = paths.normalize("/" + text)
    except BadRequest:
        return
    segments = canonical.split("/")[1:]
    assert ".." not in segments and "." not in segments
    assert not any(ord(c) < 32 or ord(c) == 127 for c in canonical)


@pytest.mark.parametrize("bad", ["relative", "/a/../b", "/a/./b", "/a\x00b", "/a\nb", "/" + "x" * 256,
                                 "/d" * 1001])
def test_bad_paths_are_refused_with_a_reason(bad):
    with pytest.raises(BadRequest) as e:
        paths.normalize(bad)
    assert e.value.message


def test_unicode_is_normalized_to_nfc():
    assert paths.normalize("/cafe\u0301") == paths.normalize("/caf\u00e9")


def test_helpers():
    assert paths.parent("/a/b") == "/a" and paths.parent("/a") == "/"
    assert paths.basename("/a/b") == "b"
    assert paths.is_ancestor("/a", "/a/b") and paths.is_ancestor("/", "/x") and not paths.is_ancestor("/a", "/ab")


def test_name_and_path_limits():
    """255 bytes of UTF-8 per name (as Linux); whole paths far beyond PATH_MAX, up to 16 KiB and 1,000 levels."""
    assert paths.normalize("/" + "x" * 255) == "/" + "x" * 255
    assert paths.normalize("/" + "\u00e9" * 127 + "x") == "/" + "\u00e9" * 127 + "x"
    for name in ("x" * 256, "\u00e9" * 128):
        with pytest.raises(NameTooLong) as e:
            paths.normalize("/ok/" + name)
        assert e.value.exception == "PathComponentTooLongException" and e.value.status == 400
    deep = "/" + "/".join(["n" * 200] * 40)  # 8,040 bytes: twice PATH_MAX
    assert paths.normalize(deep) == deep
    assert paths.normalize("/d" * 1000) == "/d" * 1000
    for too_long in ("/" + "/".join(["n" * 200] * 82), "/d" * 1001):
        with pytest.raises(PathTooLong):
            paths.normalize(too_long)
