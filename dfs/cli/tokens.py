"""`dfs token create`: a client token signed with the cluster secret."""

from dfs.cli.errors import OK, Failure
from dfs.security import SecretError, add_token_arguments, token_from_arguments


def register(commands):
    p = commands.add("token", create, "make a client token signed with the cluster secret",
                     description="dfs token create: print a token for --token / DFS_TOKEN, HdfsCLI's TokenClient or "
                                 "fsspec's token=. It needs the cluster secret; rotating the secret revokes every "
                                 "token.")
    p.add_argument("action", choices=["create"], help="what to do (create)")
    add_token_arguments(p, user=commands.in_shell)  # outside the shell, the --user every command takes


def create(session, args):
    try:
        print(token_from_arguments(args), file=session.stdout)
    except (SecretError, ValueError) as e:
        raise Failure(None, str(e)) from None
    return OK
