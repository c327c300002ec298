"""Extended attributes as WebHDFS carries them: HDFS's name rules, value encodings, set flags and size limit.
Pure: the namespace stores them (``set_xattr``, ``xattrs``, ``remove_xattr``)."""

import base64
import binascii
import re

from dfs.errors import AccessControlException, BadRequest

# HDFS's dfs.namenode.fs-limits.max-xattr-size default: the bytes of a name (without its namespace prefix) and value.
MAX_SIZE = 16384
# WebHDFS's domain of the xattr.name parameter (XAttrNameParam).
NAME = re.compile(r"(user\.|trusted\.|system\.|security\.).+", re.DOTALL)
# The namespaces a client may use: HDFS keeps system. and security. for the file system itself.
CLIENT_NAMESPACES = ("user.", "trusted.")
ENCODINGS = ("TEXT", "HEX", "BASE64")
FLAGS = ("CREATE", "REPLACE")


def check_name(name):
    """``name`` if a client may set or read it: 400 outside WebHDFS's domain, 403 in a namespace HDFS keeps."""
    if not NAME.fullmatch(name):
        raise BadRequest(f'Invalid value for webhdfs parameter "xattr.name": Invalid value: "{name}" does not'
                         f" belong to the domain ^{NAME.pattern}")
    if not name.startswith(CLIENT_NAMESPACES):
        raise AccessControlException(f"User doesn't have permission for xattr: {name}")
    return name


def superusers_only(name):
    """Whether only a superuser may read or change the attribute (HDFS's XAttrPermissionFilter: ``trusted.``)."""
    return name.startswith("trusted.")


def shown(rows, checker):
    """{name: value} of an inode's (name, value) rows in name order, as ``checker``'s caller may see them: trusted.
    ones only for a superuser (HDFS)."""
    hidden = checker is not None and not checker.unchecked
    return {name: bytes(value) for name, value in sorted(rows) if not (hidden and superusers_only(name))}


def check_readable(name, checker):
    """A non-superuser naming a ``trusted.`` attribute in GETXATTRS is refused with HDFS's text."""
    if superusers_only(name) and not checker.unchecked:
        raise AccessControlException(f"User doesn't have permission for xattr: {name}")


def check_size(name, value):
    size = len(name.split(".", 1)[1].encode()) + len(value)
    if size > MAX_SIZE:
        raise BadRequest(f"The XAttr is too big. The maximum combined size of the name and value is {MAX_SIZE},"
                         f" but the total size is {size}")


def decode(text):
    """The bytes of an ``xattr.value`` as Hadoop's XAttrCodec reads it: "quoted" text, 0x hex, 0s base64, else the
    text itself; no value is empty."""
    if text is None:
        return b""
    if len(text) >= 2:
        if text.startswith('"') and text.endswith('"'):
            return text[1:-1].encode()
        try:
            if text[:2].lower() == "0x":
                return bytes.fromhex(text[2:])
            if text[:2].lower() == "0s":
                return base64.b64decode(text[2:], validate=True)
        except (ValueError, binascii.Error) as e:
            raise BadRequest(f'Invalid value for webhdfs parameter "xattr.value": {e}') from None
    return text.encode()


def encode(value, encoding):
    """``value`` in GETXATTRS's ``encoding`` (XAttrCodec.encodeValue): TEXT quoted, HEX 0x..., BASE64 0s..."""
    if encoding == "HEX":
        return "0x" + value.hex()
    if encoding == "BASE64":
        return "0s" + base64.b64encode(value).decode()
    return '"' + value.decode("utf-8", "replace") + '"'


def encoding(text):
    """GETXATTRS's ``encoding`` parameter (case-insensitive; TEXT when absent)."""
    name = (text or "TEXT").upper()
    if name not in ENCODINGS:
        raise BadRequest(f'Invalid value for webhdfs parameter "encoding": No enum constant for {name}')
    return name


def flags(text):
    """SETXATTR's ``flag`` parameter: (create, replace). HDFS requires at least one."""
    given = {part.strip().upper() for part in (text or "").split(",") if part.strip()}
    if not given:
        raise BadRequest("A flag must be specified.")
    unknown = given - set(FLAGS)
    if unknown:
        raise BadRequest(f'Invalid value for webhdfs parameter "flag": No enum constant for {sorted(unknown)[0]}')
    return "CREATE" in given, "REPLACE" in given
