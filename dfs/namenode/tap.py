"""Builds the namenode service tree from options: store, registry, fan-out, repair and the HTTP server."""

import getpass
import os

from twisted.application import service
from twisted.python import usage
from twisted.logger import Logger

from dfs.errors import IOFailure
from dfs.http import make_http
from dfs.limits import MAX_FILE_SIZE
from dfs.namenode.access import Access
from dfs.namenode.app import LIST_LIMIT, NamenodeApp
from dfs.namenode.audit import AuditLog
from dfs.namenode.backup import Backups, reconcile_holds
from dfs.namenode.balancer import DEFAULT_BANDWIDTH, Balancer, background_balancer
from dfs.namenode.groups import GroupsFile, group_mapping
from dfs.namenode.leader import Leadership
from dfs.namenode.namespace.backends import describe, is_postgres, open_namespace
from dfs.namenode.permissions import DEFAULT_SUPERGROUP, Permissions
from dfs.namenode.proxyusers import ProxyUsers
from dfs.namenode.pins import Pins
from dfs.namenode.registry import MAINTENANCE_MIN_REPLICAS, Registry, maintenance_reader
from dfs.namenode.repair import Repair
from dfs.namenode.streaming import StreamingSite
from dfs.namenode.trash import TrashEmptier
from dfs.namenode.trimming import RETRY_CACHE_EXPIRY, history_trimmer, retry_cache_trimmer
from dfs.namenode.upload import FanOut
from dfs.options import CommonOptions, ListeningService, Refused, duration_value, env, size_value
from dfs.peers import DatanodeClient
from dfs.security import NODE, SIGNED_URL, TOKEN, URL_TTL, Guard

log = Logger()


class NamenodeOptions(CommonOptions):
    """Options of `twistd dfs-namenode`; each falls back to the DFS_* variable named in its help."""

    role = "namenode"
    default_port = 8180

    def __init__(self):
        super().__init__()
        self["db"] = env("DFS_DB_PATH", "dfs-namenode.sqlite")
        self["db-url"] = env("DFS_DB_URL")
        self["replication"] = int(env("DFS_REPLICATION", 3))
        self["min-replicas"] = int(env("DFS_MIN_REPLICAS", 2))
        self["block-size"] = size_value(env("DFS_BLOCK_SIZE", "64M"))
        self["stale-after"] = float(env("DFS_STALE_AFTER", 30))
        self["dead-after"] = float(env("DFS_DEAD_AFTER", 630))
        self["maintenance-min-replicas"] = int(env("DFS_MAINTENANCE_MIN_REPLICAS", MAINTENANCE_MIN_REPLICAS))
        self["gc-grace"] = float(env("DFS_GC_GRACE", 600))
        self["repair-interval"] = float(env("DFS_REPAIR_INTERVAL", 3))
        self["replication-inflight"] = size_value(env("DFS_REPLICATION_INFLIGHT", "32M"))
        self["safemode-extension"] = float(env("DFS_SAFEMODE_EXTENSION", 3))
        self["public-url"] = env("DFS_NAMENODE_PUBLIC_URL")
        self["url-ttl"] = float(env("DFS_URL_TTL", URL_TTL))
        self["uploads-per-client"] = int(env("DFS_UPLOADS_PER_CLIENT", 16))
        self["max-file-size"] = size_value(env("DFS_MAX_FILE_SIZE", MAX_FILE_SIZE))
        self["permissions"] = switch_value(env("DFS_PERMISSIONS", "on"))
        self["superuser"] = env("DFS_SUPERUSER") or process_user()
        self["supergroup"] = env("DFS_SUPERGROUP", DEFAULT_SUPERGROUP)
        self["groups-file"] = env("DFS_GROUPS_FILE")
        self["audit-log"] = env("DFS_AUDIT_LOG")
        self["proxy-users"] = env("DFS_PROXY_USERS")
        self["list-limit"] = int(env("DFS_LIST_LIMIT", LIST_LIMIT))
        self["trash-interval"] = float(env("DFS_TRASH_INTERVAL", 1440))
        self["trash-checkpoint-interval"] = float(env("DFS_TRASH_CHECKPOINT_INTERVAL", 0))
        self["history-retention"] = duration_value(env("DFS_HISTORY_RETENTION", "24h"))
        self["backup-dir"] = env("DFS_BACKUP_DIR")
        self["backup-interval"] = duration_value(env("DFS_BACKUP_INTERVAL", "24h"))
        self["backup-keep"] = int(env("DFS_BACKUP_KEEP", 7))

        self["retry-cache-expiry"] = duration_value(env("DFS_RETRY_CACHE_EXPIRY", f"{RETRY_CACHE_EXPIRY:g}s"))
        self["balance-threshold"] = float(env("DFS_BALANCE_THRESHOLD", 0))
        self["balance-interval"] = duration_value(env("DFS_BALANCE_INTERVAL", "1h"))
        self["balance-bandwidth"] = float(env("DFS_BALANCE_BANDWIDTH", DEFAULT_BANDWIDTH))

    def opt_db(self, value):
        """SQLite database of the namespace (env DFS_DB_PATH, default ./dfs-namenode.sqlite)."""
        self["db"] = value

    def opt_db_url(self, value):
        """PostgreSQL database of the namespace instead of the SQLite file, postgresql://user:password@host/db
        (env DFS_DB_URL; needs pip install 'dfs[postgres]')."""
        self["db-url"] = value

    def opt_replication(self, value):
        """Default replicas per block (env DFS_REPLICATION, default 3)."""
        self["replication"] = int(value)

    def opt_min_replicas(self, value):
        """Replicas that must confirm a block before a write succeeds (env DFS_MIN_REPLICAS, default 2)."""
        self["min-replicas"] = int(value)

    def opt_block_size(self, value):
        """Default block size, e.g. 64M (env DFS_BLOCK_SIZE)."""
        self["block-size"] = size_value(value)

    def opt_stale_after(self, value):
        """Seconds without a heartbeat before a datanode is stale: no new blocks go there and reads try it last
        (env DFS_STALE_AFTER, default 30, as HDFS)."""
        self["stale-after"] = float(value)

    def opt_dead_after(self, value):
        """Seconds without a heartbeat before a datanode is dead and its blocks are copied again (env DFS_DEAD_AFTER,
        default 630: HDFS's 10.5 minutes, so a restart copies nothing)."""
        self["dead-after"] = float(value)

    def opt_maintenance_min_replicas(self, value):
        """Replicas each block keeps on datanodes not in maintenance (`dfs maintenance`): a block with fewer is
        copied elsewhere, others wait for the node (env DFS_MAINTENANCE_MIN_REPLICAS, default 1, as HDFS)."""
        self["maintenance-min-replicas"] = int(value)

    def opt_gc_grace(self, value):
        """Seconds an unreferenced block is kept before it is deleted (env DFS_GC_GRACE, default 600)."""
        self["gc-grace"] = float(value)

    def opt_repair_interval(self, value):
        """Seconds between repair passes (env DFS_REPAIR_INTERVAL, default 3)."""
        self["repair-interval"] = float(value)

    def opt_replication_inflight(self, value):
        """Bytes of re-replication copies each datanode may send or receive at once, a small block counting as 64K
        (env DFS_REPLICATION_INFLIGHT, default 32M): lower it to leave clients more of the disks and network."""
        self["replication-inflight"] = size_value(value)

    def opt_safemode_extension(self, value):
        """Seconds to stay in safe mode after the blocks were reported (env DFS_SAFEMODE_EXTENSION, default 3)."""
        self["safemode-extension"] = float(value)

    def opt_public_url(self, value):
        """URL clients use to reach this namenode, for upload redirects (env DFS_NAMENODE_PUBLIC_URL)."""
        self["public-url"] = value

    def opt_url_ttl(self, value):
        """Seconds a signed redirect URL stays valid (env DFS_URL_TTL, default 300)."""
        self["url-ttl"] = float(value)

    def opt_max_file_size(self, value):
        """Largest file, holes counted, e.g. 1T; a CREATE, APPEND or TRUNCATE beyond it gets 413 (env
        DFS_MAX_FILE_SIZE, default 2^63-1: what sizes hold)."""
        self["max-file-size"] = size_value(value)

    def opt_permissions(self, value):
        """on|off: check owners, groups and modes on every namespace operation (env DFS_PERMISSIONS, default on)."""
        self["permissions"] = switch_value(value)

    def opt_superuser(self, value):
        """User who passes every permission check (env DFS_SUPERUSER, default: the user the namenode runs as)."""
        self["superuser"] = value

    def opt_supergroup(self, value):
        """Group whose members are superusers (env DFS_SUPERGROUP, default supergroup)."""
        self["supergroup"] = value

    def opt_groups_file(self, value):
        """File of `user: group1 group2` lines giving users their groups, instead of this host's groups (env
        DFS_GROUPS_FILE)."""
        self["groups-file"] = value

    def opt_audit_log(self, value):
        """File of the audit trail, one line per namespace operation (env DFS_AUDIT_LOG, default beside the
        database: <db>-audit.log)."""
        self["audit-log"] = value

    def opt_proxy_users(self, value):
        """File of `user: users=... groups=... hosts=...` lines naming who may act for whom with WebHDFS doas=
        (env DFS_PROXY_USERS; default: nobody may)."""
        self["proxy-users"] = value

    def opt_list_limit(self, value):
        """Entries in one LISTSTATUS_BATCH page, as HDFS's dfs.ls.limit (env DFS_LIST_LIMIT, default 1000)."""
        self["list-limit"] = int(value)

    def opt_uploads_per_client(self, value):
        """Concurrent uploads one client address may run; more get 429 (env DFS_UPLOADS_PER_CLIENT, default 16)."""
        self["uploads-per-client"] = int(value)

    def opt_trash_interval(self, value):
        """Minutes a removed path stays in its owner's trash before the emptier deletes it; 0 turns trash off
        (env DFS_TRASH_INTERVAL, default 1440: one day; Hadoop's default is 0)."""
        self["trash-interval"] = float(value)

    def opt_trash_checkpoint_interval(self, value):
        """Minutes between two trash checkpoints; 0 means the trash interval (env DFS_TRASH_CHECKPOINT_INTERVAL,
        default 0)."""
        self["trash-checkpoint-interval"] = float(value)

    def opt_history_retention(self, value):
        """How long the namespace keeps its past for `dfs ls/cat/get/restore --at` and WebHDFS at=: a duration such
        as 24h, 90m, 7d or 3600s (a bare number is hours; 0 turns it off: deleted blocks go as promptly as without
        history). Snapshots keep what they need whatever this says (env DFS_HISTORY_RETENTION, default 24h)."""
        self["history-retention"] = duration_value(value)

    def opt_backup_dir(self, value):
        """Directory of scheduled online backups of the SQLite namespace; GC keeps every block a backup kept there
        names (env DFS_BACKUP_DIR; default: no backups)."""
        self["backup-dir"] = value

    def opt_backup_interval(self, value):
        """Time between two backups, e.g. 6h, 30m, 1d (a bare number is hours; 0: only `dfs admin backup`) (env
        DFS_BACKUP_INTERVAL, default 24h)."""
        self["backup-interval"] = duration_value(value)

    def opt_backup_keep(self, value):
        """Backups kept in --backup-dir; older ones are removed (env DFS_BACKUP_KEEP, default 7)."""
        self["backup-keep"] = int(value)

    def opt_retry_cache_expiry(self, value):
        """How long the answer to a change a client numbered is kept, so that the change sent again (after its
        namenode died) answers the same rather than being made twice: a duration such as 10m or 600s (a bare
        number is hours) (env DFS_RETRY_CACHE_EXPIRY, default 10m)."""
        self["retry-cache-expiry"] = duration_value(value)

    def opt_balance_threshold(self, value):
        """Run the balancer in the background, on the namenode that leads background work, whenever a datanode's
        utilization is more than this many percentage points from the cluster's mean; 0 turns it off (env
        DFS_BALANCE_THRESHOLD, default 0: only `dfs balance`)."""
        self["balance-threshold"] = float(value)

    def opt_balance_interval(self, value):
        """How often the background balancer looks, a duration such as 1h, 30m or 600s (a bare number is hours)
        (env DFS_BALANCE_INTERVAL, default 1h)."""
        self["balance-interval"] = duration_value(value)

    def opt_balance_bandwidth(self, value):
        """MB/s (2^20 bytes) the background balancer moves at most (env DFS_BALANCE_BANDWIDTH, default
        100)."""
        self["balance-bandwidth"] = float(value)

    def postOptions(self):
        if self["balance-threshold"] < 0 or self["balance-interval"] <= 0 or self["balance-bandwidth"] <= 0:
            raise usage.UsageError("--balance-threshold is 0 (off) or more, --balance-interval and"
                                   " --balance-bandwidth more than 0")
        if self["backup-interval"] < 0 or self["backup-keep"] < 1:
            raise usage.UsageError("--backup-interval is a duration, 0 or more, and --backup-keep 1 or more")
        if self["backup-dir"] and self["db-url"]:
            raise usage.UsageError("--backup-dir backs up the SQLite namespace; back up PostgreSQL with its own tools"
                                   " (docs/operator-guide.md, \"Backup and restore\")")
        for name in ("trash-interval", "trash-checkpoint-interval"):
            if self[name] < 0:
                raise usage.UsageError(f"--{name} is minutes, 0 or more, not {self[name]:g}")
        for name in ("history-retention", "retry-cache-expiry"):
            if self[name] < 0:
                raise usage.UsageError(f"--{name} is a duration, 0 or more, not {self[name]:g}")
        super().postOptions()
        if self["groups-file"]:
            try:
                GroupsFile(self["groups-file"])
            except (OSError, ValueError) as e:
                raise Refused(self.role, f"the groups file: {e}") from None
        if self["proxy-users"]:
            try:
                ProxyUsers(self["proxy-users"])
            except (OSError, ValueError) as e:
                raise Refused(self.role, f"the proxy users file: {e}") from None


def switch_value(text):
    """'on'/'off' (or true/false, yes/no, 1/0) -> bool."""
    value = str(text).strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"expected on or off, not {text!r}")


def process_user():
    """The name of the user this process runs as (its uid's number when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def audit_path(db_path):
    """The default audit trail, beside the SQLite database (with --db-url, where --db points, though no database is
    there): ``dfs-namenode.sqlite`` -> ``dfs-namenode-audit.log``."""
    return os.path.splitext(os.path.abspath(db_path))[0] + "-audit.log"


class NamenodeService(service.MultiService):
    def __init__(self, store, pins, leadership, repair, pool, access, trash, backups):
        super().__init__()
        self.store, self.pins, self.leadership, self.repair = store, pins, leadership, repair
        self.pool, self.access, self.trash, self.backups = pool, access, trash, backups

    def startService(self):
        self.store.start()
        super().startService()
        self.pins.start()
        self.leadership.start()
        self.repair.safemode.start()
        self.repair.start()
        self.trash.start()
        if self.backups is not None:
            self.backups.start()

    def stopService(self):
        if self.backups is not None:
            self.backups.stop()
        self.trash.stop()
        self.repair.stop()
        self.leadership.stop()
        self.pins.stop()
        d = super().stopService()
        d.addBoth(lambda _: self.pool.closeCachedConnections())
        d.addBoth(lambda _: self.store.stop())
        d.addBoth(lambda _: self.access.close())
        return d


def build_namenode(reactor, options):
    """The namenode service tree. Tests call this directly with a dict of options."""
    location = namespace_location(options)
    try:
        store = open_namespace(location, reactor, {"replication": options["replication"],
                                                   "block_size": options["block-size"]})
        store.open()
    except IOFailure as e:  # no driver, a database that cannot be reached, a schema too new
        raise Refused("namenode", e) from None
    cluster_id = store.cluster_id
    registry = Registry(reactor, options["stale-after"], options["dead-after"], options["maintenance-min-replicas"])
    guard = Guard(options.secret(), reactor, audience="namenode", url_ttl=options["url-ttl"])
    http, pool = make_http(reactor, context_factory=options.https_policy(),
                           sign=guard.node_headers if guard.enabled else None, timeouts=options.timeouts())
    pins = Pins(store, reactor)
    leadership = Leadership(store, reactor)
    datanodes = DatanodeClient(http)
    fanout = FanOut(datanodes, registry, reactor, pins)
    repair = Repair(store, registry, fanout, datanodes, reactor, interval=options["repair-interval"],
                    grace=options["gc-grace"], inflight_bytes=options["replication-inflight"],
                    safemode_extension=options["safemode-extension"], leadership=leadership)
    config = {
        "cluster_id": cluster_id,
        "replication": options["replication"],
        "min_replicas": options["min-replicas"],
        "block_size": options["block-size"],
        "public_url": options.get("public-url"),
        "max_file_size": options["max-file-size"],
        "list_limit": options["list-limit"],
        "trash_interval": options["trash-interval"],
    }
    permissions = Permissions(group_mapping(reactor, options.get("groups-file")), options["superuser"],
                              options["supergroup"], options["permissions"])
    access = Access(permissions, AuditLog(options.get("audit-log") or audit_path(options["db"]), reactor),
                    ProxyUsers(options.get("proxy-users")))
    trash = TrashEmptier(store, reactor, options["trash-interval"] * 60, options["trash-checkpoint-interval"] * 60,
                         repair.safemode, leadership)
    store.history_retention = options["history-retention"]
    backups = scheduled_backups(store, reactor, options)
    balancer = Balancer(store, registry, datanodes, repair, reactor, leadership)
    app = NamenodeApp(store, registry, fanout, repair, config, guard=guard, access=access, trash=trash,
                      backups=backups, balancer=balancer)
    top = NamenodeService(store, pins, leadership, repair, pool, access, trash, backups)
    history_trimmer(store, reactor, leadership=leadership).setServiceParent(top)
    maintenance_reader(store, registry, reactor).setServiceParent(top)
    retry_cache_trimmer(store, reactor, options["retry-cache-expiry"], leadership=leadership).setServiceParent(top)
    if options["balance-threshold"] > 0:
        background_balancer(balancer, reactor, options["balance-interval"], options["balance-threshold"],
                            options["balance-bandwidth"]).setServiceParent(top)
    app.telemetry.probes(reactor, options["lag-probe-interval"], options["stall-trace"]).setServiceParent(top)
    site = StreamingSite(app.resource(), app.start_upload, metrics=app.telemetry, timeout=options["idle-timeout"])
    site.limits = options.limits(uploads_per_client=options["uploads-per-client"], is_upload=app.is_upload,
                                 max_upload=options["max-file-size"],
                                 admit=guard.admission(NODE, TOKEN, SIGNED_URL))
    ListeningService(reactor, options.endpoint_description(), site, "namenode").setServiceParent(top)
    log.info("namenode database {db}, cluster {cluster}", db=describe(location), cluster=cluster_id)
    log.info("permissions {state}, superuser {user}, supergroup {group}, audit trail {audit}",
             state="on" if permissions.enabled else "off", user=permissions.superuser, group=permissions.supergroup,
             audit=access.audit.file.path)
    return top


def scheduled_backups(store, reactor, options):
    """The SQLite namespace's backups (None without --backup-dir), their holds made to match the kept files before
    GC can run. Without --backup-dir (on PostgreSQL too, where a migrated namespace may bring holds) no backup holds
    a block."""
    directory = options.get("backup-dir")
    backups = directory and Backups(store, directory, options["backup-keep"], options["backup-interval"], reactor,
                                    reactor.getThreadPool())
    try:
        backups.reconcile() if backups else reconcile_holds(store, None)
    except (OSError, IOFailure) as e:
        raise Refused("namenode", f"the backups in {directory}: {e}") from None
    return backups or None


def namespace_location(options):
    """Where the namespace is kept: the PostgreSQL URL given, else the SQLite file (its directory made)."""
    url = options.get("db-url")
    if url:
        if not is_postgres(url):
            raise Refused("namenode", "--db-url/DFS_DB_URL must be a postgresql:// URL")
        return url
    path = options["db"]
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path


Options = NamenodeOptions


def makeService(options):
    from twisted.internet import reactor

    return build_namenode(reactor, options)
