"""Extended-attribute values in Hadoop's XAttrCodec forms, and HDFS's name and flag rules."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfs.errors import AccessControlException, BadRequest
from dfs.namenode import xattrs


@given(st.binary(max_size=64), st.sampled_from(["HEX", "BASE64"]))
def test_an_encoded_value_decodes_to_its_bytes(value, encoding):
    assert xattrs.decode(xattrs.encode(value, encoding)) == value


@given(st.text(max_size=64))
def test_a_text_value_decodes_to_its_utf8(text):
    assert xattrs.decode(xattrs.encode(text.encode(), "TEXT")) == text.encode()


def test_hadoops_value_forms():
    assert [xattrs.decode(v) for v in ('"a b"', "0X0aFF", "0sAAE=", "plain", "x", None)] == \
        [b"a b", b"\x0a\xff", b"\x00\x01", b"plain", b"x", b""]
    with pytest.raises(BadRequest, match="xattr.value"):
        xattrs.decode("0xabc")


def test_names_and_flags():
    assert xattrs.check_name("trusted.a.b") == "trusted.a.b"
    for name in ("user", "user.", "USER.a", "raw.a", ""):
        with pytest.raises(BadRequest):
            xattrs.check_name(name)
    with pytest.raises(AccessControlException):
        xattrs.check_name("security.selinux")
    assert xattrs.flags("create, replace") == (True, True) and xattrs.flags("REPLACE") == (False, True)
    with pytest.raises(BadRequest, match="A flag must be specified."):
        xattrs.flags("")
    assert xattrs.encoding(None) == "TEXT" and xattrs.encoding("base64") == "BASE64"
