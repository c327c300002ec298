"""A throwaway PostgreSQL server for tests, never a mock: initdb into a temporary directory as the ``postgres``
user, listening only on a Unix socket in that directory, fsync off; one server per session, a database per test."""

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

START_TIMEOUT = 120  # seconds; pg_ctl waits for the server to accept connections
SERVICE_USER = "postgres"  # PostgreSQL refuses to run as root


def bin_dir():
    """The directory of initdb and pg_ctl (Debian keeps them off PATH, in /usr/lib/postgresql/N/bin), or None."""
    on_path = shutil.which("initdb")
    candidates = [os.path.dirname(os.path.realpath(on_path))] if on_path else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
    for candidate in candidates:
        if all(os.access(os.path.join(candidate, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return candidate
    return None


def unavailable_reason():
    """Why no server can be started here, or None."""
    if bin_dir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER} user to run PostgreSQL as"
    return None


class PostgresServer:
    """One PostgreSQL server in its own directory under /tmp (pytest's temporary directories are private to root,
    where the ``postgres`` user could not reach its socket). ``database()`` makes an empty database. ``durable``
    keeps PostgreSQL's fsync and synchronous commits (benchmarks: a commit costs what it costs in production);
    tests turn them off. ``settings`` (``name=value``) are added to the server's command line."""

    def __init__(self, durable=False, settings=()):
        self.durable = durable
        self.settings = list(settings)
        self.bin = bin_dir()
        self.dir = None
        self.pid = None
        self._names = itertools.count()

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def log_path(self):
        return os.path.join(self.dir, "server.log")

    def start(self):
        self.dir = self._directory()
        self._as_service_user("initdb", "--pgdata", self.data, "--username", SERVICE_USER, "--auth", "trust",
                              "--encoding", "UTF8", "--locale", "C", "--no-sync")
        return self.launch()

    def start_standby_of(self, primary):
        """Start as a streaming standby of ``primary`` (pg_basebackup -R: a copy of its data directory that follows
        its WAL), which must run with ``replication`` settings."""
        self.dir = self._directory()
        self._as_service_user("pg_basebackup", "--pgdata", self.data, "--dbname", primary.conninfo(),
                              "--write-recovery-conf", "--checkpoint", "fast", "--no-sync")
        return self.launch()

    def launch(self, extra=()):
        """Start the server on the data directory it has (again, after ``halt``); ``extra`` settings (``name=value``)
        go after the usual ones."""
        settings = ["listen_addresses=''", f"unix_socket_directories='{self.dir}'"]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        settings += [*self.settings, *extra]
        try:
            self._as_service_user("pg_ctl", "start", "--pgdata", self.data, "--log", self.log_path, "--wait",
                                  "--timeout", str(START_TIMEOUT), "-o", " ".join(f"-c {s}" for s in settings))
        except subprocess.CalledProcessError:
            raise RuntimeError(f"PostgreSQL did not start: {self.log()[-3000:]}") from None
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        return self

    def halt(self):
        """Stop the server (fast shutdown: sessions are cut), keeping its data for ``launch``."""
        if self.pid is not None:
            try:
                self._as_service_user("pg_ctl", "stop", "--pgdata", self.data, "--mode", "fast", "--wait",
                                      "--timeout", str(START_TIMEOUT))
            except subprocess.CalledProcessError:
                os.kill(self.pid, 9)  # the postmaster alone; its children exit when it is gone
            self.pid = None

    def promote(self):
        """Make a standby the primary (``pg_ctl promote``), once it accepts writes."""
        self._as_service_user("pg_ctl", "promote", "--pgdata", self.data, "--wait", "--timeout", str(START_TIMEOUT))

    def stop(self):
        """Stop the server and remove its directory."""
        self.halt()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def conninfo(self):
        return f"host={self.dir} user={SERVICE_USER}"

    def _directory(self):
        path = tempfile.mkdtemp(prefix="dfs-pg-")
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(path, user.pw_uid, user.pw_gid)
        return path

    def url(self, database="postgres"):
        return f"postgresql://{SERVICE_USER}@/{database}?host={self.dir}"

    def database(self):
        """The URL of a new, empty database."""
        import psycopg

        name = f"test{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url):
        """Drop the database at ``url``, cutting any session still in it."""
        import psycopg

        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def empty(self, url):
        """Empty every table but the schema version of the database at ``url`` (a test's fresh namespace: TRUNCATE
        takes milliseconds where CREATE DATABASE takes 0.25 s). No session may be using the tables."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            tables = [name for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename != 'schema_version'")]
            if tables:
                conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _as_service_user(self, tool, *args):
        command = [os.path.join(self.bin, tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=START_TIMEOUT,
                       cwd=self.dir)
