"""The proxy users file (dfs.namenode.proxyusers): its lines and the decisions they give."""

import pytest

from dfs.errors import AuthorizationException
from dfs.namenode.proxyusers import ProxyUsers, parse_proxy_users


def test_a_rule_allows_named_users_groups_and_hosts(tmp_path):
    path = tmp_path / "proxy"
    path.write_text("# real user: whom\ngate: users=bob groups=staff hosts=127.0.0.1,10.0.0.0/8\nmount: users=*\n")
    proxies = ProxyUsers(str(path))
    assert proxies.authorize("gate", "bob", (), "10.1.2.3").users == {"bob"}
    proxies.authorize("gate", "alice", ("alice", "staff"), "127.0.0.1")
    assert proxies.rule("mount").anyone and not proxies.rule("gate").anyone
    with pytest.raises(AuthorizationException, match="^User: gate is not allowed to impersonate carol$"):
        proxies.authorize("gate", "carol", ("carol",), "127.0.0.1")
    with pytest.raises(AuthorizationException, match="^Unauthorized connection for super-user: gate from IP 192.0.2.1$"):
        proxies.authorize("gate", "bob", (), "192.0.2.1")
    with pytest.raises(AuthorizationException, match="alice is not allowed"):
        ProxyUsers().authorize("alice", "bob", (), "127.0.0.1")


@pytest.mark.parametrize("line", ["gate users=bob", "gate: users=bob owners=x", "gate: hosts=10.0.0.300",
                                  "gate: users=a\ngate: users=b"])
def test_a_malformed_line_is_named(line):
    with pytest.raises(ValueError, match=r"^proxy users file:\d: "):
        parse_proxy_users(line)
