"""Extended attributes under permission checks: ``trusted.`` ones are the superuser's, hidden from everyone else
by GETXATTRS and LISTXATTRS (HDFS's XAttrPermissionFilter), refused when named."""

import json

from test_permission_matrix import SUPERUSER, as_user, checked, denial, write  # noqa: F401 (checked: a fixture)


def test_trusted_attributes_are_hidden_from_non_superusers(checked):
    write(checked, "alice", "/home/alice/tagged", permission="644")
    for name, user in (("user.color", "alice"), ("trusted.origin", SUPERUSER)):
        r = as_user(checked, user, "PUT", "/home/alice/tagged", "SETXATTR", **{"xattr.name": name,
                                                                                "xattr.value": '"x"',
                                                                                "flag": "CREATE"})
        assert r.status_code == 200, r.text

    def names(user):
        r = as_user(checked, user, "GET", "/home/alice/tagged", "LISTXATTRS")
        assert r.status_code == 200, r.text
        return json.loads(r.json()["XAttrNames"])

    def values(user):
        r = as_user(checked, user, "GET", "/home/alice/tagged", "GETXATTRS")
        assert r.status_code == 200, r.text
        return [attribute["name"] for attribute in r.json()["XAttrs"]]

    assert names(SUPERUSER) == values(SUPERUSER) == ["trusted.origin", "user.color"]
    assert names("alice") == values("alice") == ["user.color"]
    assert denial(as_user(checked, "alice", "GET", "/home/alice/tagged", "GETXATTRS",
                          **{"xattr.name": "trusted.origin"})) == "User doesn't have permission for xattr: trusted.origin"
