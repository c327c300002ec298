"""Who a WebHDFS request acts for, the permission checker its namespace operations take, and its audit line."""

from dataclasses import dataclass
from typing import Optional

from twisted.internet.threads import deferToThread

from dfs import paths
from dfs.namenode.namespace.model import Inode
from dfs.namenode.namespace.retries import Operation
from dfs.namenode.permissions import OPERATIONS, Caller, Checker
from dfs.namenode.proxyusers import ProxyUsers
from dfs.security import NODE, OPEN, SIGNED_URL, TOKEN


@dataclass(slots=True)
class Call:
    """One WebHDFS request as the namespace and the audit trail see it. A handler sets ``dst`` (RENAME, COPY) and
    ``inode`` (the entry as its change left it: the audit line's ``perm``), or clears ``audited`` when it only
    redirects. ``real_user`` is the user who sent it when it acts for ``user`` (WebHDFS ``doas``)."""

    user: str
    auth: str
    ip: str
    checker: Checker
    owner: Optional[str] = None  # who new entries belong to: the user the request names (none: the default owner)
    dst: Optional[str] = None
    inode: Optional[Inode] = None
    audited: bool = True
    real_user: Optional[str] = None
    group: Optional[str] = None  # the group of new entries the caller asserted (``doas.groups``), else the parent's


class Access:
    """The namenode's permission settings (dfs.namenode.permissions.Permissions) and audit trail
    (dfs.namenode.audit.AuditLog, or None: not written).

    A request names its user by its token (or the token's signed redirect), else, on a cluster without a secret, by
    ``user.name``. One that names nobody acts as the superuser: dfs's own clients name no user unless told to, and
    on an open cluster any name is the caller's word, so refusing the anonymous would protect nothing and break
    every script written before permissions were checked. The cluster's own processes act as the superuser too.

    ``doas=bob`` makes a request act for bob when ``proxy_users`` (dfs.namenode.proxyusers.ProxyUsers) allows its
    real user to; ``doas.groups=g1,g2`` (dfs's extension, for the mount: the caller's groups from the kernel, the
    primary one first) replaces bob's groups, and gives new entries the first, only from a real user allowed to act
    for every user (who could act as the superuser anyway)."""

    def __init__(self, permissions, audit=None, proxy_users=None):
        self.permissions = permissions
        self.audit = audit
        self.proxy_users = proxy_users or ProxyUsers()

    async def call(self, identity, params, ip) -> Call:
        """The Call of a request whose credentials ``identity`` (dfs.security.Guard) holds; its groups are looked
        up on a thread when they are not cached (the host's mapping may block). Its checker carries the client
        operation id the request names, if any (the retry cache)."""
        operation = Operation.of(params)
        call = await self._call(identity, params, ip)
        call.checker.operation = operation
        return call

    async def _call(self, identity, params, ip):
        if identity.kind in (TOKEN, SIGNED_URL):
            user = identity.user
        elif identity.kind == NODE:
            user = None
        else:
            user = params.str("user.name") or None
        named, user = user, user or self.permissions.superuser
        auth = "SIMPLE" if identity.kind == OPEN.kind else "TOKEN"
        doas = params.str("doas") or None
        if doas is not None and doas != user:  # HDFS: acting for oneself is no impersonation
            return await self._proxied(user, paths.check_name(doas), params.str("doas.groups"), auth, ip)
        checker = self.permissions.checker_at_once(user)
        if checker is None:
            checker = await deferToThread(self.permissions.checker, user)
        return Call(user, auth, ip, checker, owner=named)

    async def _proxied(self, real_user, user, asserted, auth, ip):
        """The Call of ``real_user`` acting for ``user``, or AuthorizationException (403, HDFS's text)."""
        groups = self.permissions.groups.cached(user)
        if groups is None:
            groups = await deferToThread(self.permissions.groups.groups, user)
        rule = self.proxy_users.authorize(real_user, user, groups, ip)
        group = None
        if asserted is not None and rule.anyone:
            groups = tuple(filter(None, asserted.split(",")))
            group = groups[0] if groups else None
        settings = self.permissions
        caller = Caller.of(user, groups, settings.superuser, settings.supergroup) if settings.enabled else Caller(user)
        return Call(user, auth, ip, Checker(caller, settings.enabled), owner=user, real_user=real_user, group=group)

    def record(self, call, op, path, allowed):
        """The audit line of WebHDFS ``op`` on ``path``, allowed or denied (operations HDFS does not audit: none)."""
        command = OPERATIONS[op].audit
        if self.audit is None or command is None or not call.audited:
            return
        self.audit.record(allowed, call.user, command, path, call.ip, dst=call.dst,
                          inode=call.inode if allowed else None, auth=call.auth, real_user=call.real_user)

    def recent_denials(self):
        """The last denials, newest first, for the status page."""
        if self.audit is None:
            return []
        return [{"time": event.time, "user": event.user, "ip": event.ip, "cmd": event.cmd, "src": event.src,
                 "dst": event.dst} for event in self.audit.recent_denials()]

    def close(self):
        if self.audit is not None:
            self.audit.close()
