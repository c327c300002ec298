"""Whom a request acts for when the client's user may impersonate others (WebHDFS ``doas``): the mount sets it for
each caller. A context variable, so that concurrent threads sharing one client each act for their own caller."""

import contextvars
from contextlib import contextmanager

_ACTING_FOR = contextvars.ContextVar("dfs_acting_for", default=None)


@contextmanager
def acting_for(who):
    """Requests made inside the block act for ``who``, a ``(user, groups)`` pair (the primary group first; the
    groups are sent as dfs's ``doas.groups``), or None: for the client's own user."""
    token = _ACTING_FOR.set(who)
    try:
        yield
    finally:
        _ACTING_FOR.reset(token)


def acting_now():
    """Whom requests made now act for: a ``(user, groups)`` pair, or None (the client's own user)."""
    return _ACTING_FOR.get()


def doas_params():
    """The query parameters of a request made now: whom it acts for ({} for the client's own user)."""
    acting = acting_now()
    if acting is None:
        return {}
    user, groups = acting
    return {"doas": user, "doas.groups": ",".join(groups)}
