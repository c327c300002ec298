/* The namenode's status page: cluster health and datanodes from GET /cluster, and a WebHDFS file browser.
   The browser follows the URL's hash, so #/some/dir opens that directory and #/some/file shows its blocks. */
"use strict";

(() => {
  const {el, fill, bytes, count, percent, duration, ago, time, bar, stacked, disk, webUrl, badge, getJSON, withToken,
         every} = dfs;
  const REFRESH_MS = 5000;
  const HISTORY_SHOWN = 8;  // the newest membership changes (GET /cluster has up to 100) and denials (up to 50)
  const PAGE_SIZE = 100;  // listing rows drawn at once: a directory of 100,000 entries stays responsive
  const WEBHDFS = "/webhdfs/v1";

  // -- cluster health and datanodes (GET /cluster, the JSON `dfs status` prints) -------------------------

  function figure(label, value, level) {
    return el("span", {class: `figure ${level || ""}`}, el("b", {}, value), " ", label);
  }

  function warnIf(n, level) {
    return n > 0 ? level : "";
  }

  function renderHealth(status) {
    const t = status.totals;
    const states = {};
    for (const node of status.nodes) states[node.state] = (states[node.state] || 0) + 1;
    const alive = states.alive || 0;

    fill("cluster-id", status.cluster_id);
    fill("namenode-version", status.version);
    fill("uptime", duration(status.uptime));
    fill("verdict", verdict(status));

    fill("nodes-summary",
      el("div", {class: "big"}, `${alive} / ${status.nodes.length}`, el("span", {class: "muted small"}, " alive")),
      el("div", {class: "figures"},
        figure("alive", alive),
        figure("stale", states.stale || 0, warnIf(states.stale, "warn")),
        figure("dead", states.dead || 0, warnIf(states.dead, "bad")),
        figure("decommissioning", states.decommissioning || 0, warnIf(states.decommissioning, "warn")),
        states.decommissioned ? figure("decommissioned", states.decommissioned) : null,
        states.maintenance ? figure("in maintenance", states.maintenance) : null));

    const held = t.held || {};
    fill("capacity", disk(t.capacity, t.used, t.free, "capacity-text"),
      el("div", {class: "muted small"}, "of the datanodes that are not dead"),
      el("div", {class: "muted small", id: "held-text"},
        `held to undo (one replica): trash ${bytes(held.trash || 0)}, snapshots ${bytes(held.snapshots || 0)},`
        + ` backups ${bytes(held.backups || 0)}, history ${bytes(held.history || 0)}`));

    fill("namespace",
      el("div", {class: "figures"},
        figure("files", count(t.files)),
        figure("blocks", count(t.blocks)),
        figure("unreachable inodes", count(t.unreachable_inodes || 0), warnIf(t.unreachable_inodes, "bad"))),
      el("div", {class: "muted small"},
        `default replication ${status.replication}, block size ${bytes(status.block_size)}`),
      el("div", {class: "muted small"}, "metadata ", el("span", {id: "metadata-size"}, bytes(status.metadata_bytes)),
        " on the namenode's disk"),
      backupLine(status.backup));

    const problems = (t.under_replicated || 0) + (t.missing || 0) + (t.corrupt || 0);
    fill("blocks",
      bar(Math.max(0, t.blocks - problems), t.blocks, problems ? (t.missing || t.corrupt ? "bad" : "warn") : "ok",
          "healthy blocks"),
      el("div", {class: "figures"},
        figure("under-replicated", count(t.under_replicated), warnIf(t.under_replicated, "warn")),
        figure("missing", count(t.missing), warnIf(t.missing, "bad")),
        figure("corrupt", count(t.corrupt || 0), warnIf(t.corrupt, "bad")),
        figure("over-replicated", count(t.over_replicated)),
        figure("orphans", count(t.orphans))));

    const draining = status.nodes.filter((n) => n.state === "decommissioning");
    fill("repair",
      el("div", {class: "figures"},
        figure("blocks waiting for copies", count(t.under_replicated), warnIf(t.under_replicated, "warn")),
        figure("copies in flight", count(t.copies_in_flight)),
        figure("copies done", count(t.copies_done)),
        figure("replicas deleted", count(t.deletions_done))),
      draining.length
        ? draining.map((n) => el("div", {class: "small"},
            `decommissioning ${n.id}: ${count(n.decommission_pending)} of ${count(n.blocks)} blocks still to copy`,
            bar(n.blocks - n.decommission_pending, n.blocks, "thin warn")))
        : el("div", {class: "muted small"}, "no datanode is being decommissioned"));

    const history = status.history || [];
    fill("history", history.length
      ? el("ul", {class: "history small"}, history.slice(0, HISTORY_SHOWN).map((e) =>
          el("li", {}, el("span", {class: "mono"}, e.node), ` ${e.event}, ${ago(e.seconds_ago)}`)))
      : el("div", {class: "muted small"}, "no change since the namenode started"));

    const denials = status.denials || [];
    fill("denials", denials.length
      ? el("ul", {class: "history small"}, denials.slice(0, HISTORY_SHOWN).map((d) =>
          el("li", {}, `${time(d.time * 1000)} `, el("span", {class: "mono"}, d.user), ` ${d.cmd} `,
             el("span", {class: "mono"}, d.dst ? `${d.src} -> ${d.dst}` : d.src), ` from ${d.ip}`)))
      : el("div", {class: "muted small"}, "no request was refused since the namenode started"));
  }

  /* The worst thing that is true of the cluster, as the namenode words it (dfs.namenode.verdict). */
  /* The namespace's backups (--backup-dir): the newest, how many are kept, failures. */
  function backupLine(backup) {
    if (!backup) return null;
    const last = backup.last;
    const newest = last ? `last backup ${ago(Date.now() / 1000 - last.at)} (${bytes(last.bytes)})` : "no backup yet";
    const failed = backup.failures ? `, ${backup.failures} failed: ${backup.last_failure.error}` : "";
    return el("div", {class: "muted small", id: "backup-text"}, `${newest}, ${backup.kept} kept${failed}`);
  }

  function verdict(status) {
    const v = status.verdict;
    return v.text ? [badge(v.state), ` ${v.text}`] : [badge(v.state)];
  }

  /* A datanode's row; its version is marked when it differs from the namenode's (``status``). */
  function nodeRow(node, status) {
    const pageUrl = webUrl(`${node.public_url}/`);
    const state = [badge(node.state)];
    if (node.state === "decommissioning") {
      state.push(el("div", {class: "small muted"}, `${count(node.decommission_pending)} blocks to copy`),
                 bar(node.blocks - node.decommission_pending, node.blocks, "thin warn"));
      if (node.decommission_blocked) state.push(el("div", {class: "small bad"}, node.decommission_blocked));
    }
    if (node.state === "maintenance") {
      const until = new Date(node.maintenance_until * 1000).toLocaleString();
      state.push(el("div", {class: "small muted"}, `${node.liveness}, until ${until}`));
    }
    if (node.failed_volumes) state.push(el("div", {class: "small bad"}, `${count(node.failed_volumes)} failed disk(s)`));
    return el("tr", {"data-node": node.id},
      el("td", {}, el("a", {href: pageUrl, class: "mono"}, node.id)),
      el("td", {}, state),
      el("td", {class: "mono"}, node.rack),
      el("td", {}, ago(node.last_heartbeat)),
      el("td", {}, node.last_block_report === null ? "none yet" : ago(node.last_block_report)),
      el("td", {class: node.version === status.version ? "" : "warn"}, node.version || "unknown"),
      el("td", {class: "num"}, bytes(node.capacity)),
      el("td", {}, `${bytes(node.used)} (${percent(node.used, node.capacity)})`,
        stacked(node.capacity, [[node.used, "used", "blocks"],
                                [node.capacity - node.used - node.free, "other", "other files and reserve"]], "thin")),
      el("td", {class: "num"}, bytes(node.free)),
      el("td", {class: "num"}, count(node.blocks)),
      el("td", {}, el("a", {href: pageUrl}, node.public_url)));
  }

  async function refreshCluster() {
    try {
      const status = await getJSON("/cluster");
      renderHealth(status);
      const rows = status.nodes.map((node) => nodeRow(node, status));
      fill("cluster-error");
      document.querySelector("#datanodes tbody").replaceChildren(
        ...(rows.length ? rows : [el("tr", {}, el("td", {colspan: 11, class: "muted"}, "no datanode has registered"))]));
    } catch (e) {
      fill("cluster-error", `cluster status: ${e.message}`);
      throw e;
    }
  }

  // -- file browser (WebHDFS LISTSTATUS, GETFILESTATUS, GETFILEBLOCKLOCATIONS, OPEN) ----------------------

  function encodePath(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  function join(dir, name) {
    return dir === "/" ? `/${name}` : `${dir}/${name}`;
  }

  function parent(path) {
    const cut = path.lastIndexOf("/");
    return cut <= 0 ? "/" : path.slice(0, cut);
  }

  function hashPath() {
    let raw = location.hash.replace(/^#/, "");
    try {
      raw = decodeURIComponent(raw);
    } catch (e) {
      // keep it as typed
    }
    const parts = raw.split("/").filter((p) => p && p !== ".");
    return `/${parts.join("/")}`;
  }

  function link(path, text) {
    return el("a", {href: `#${encodePath(path)}`}, text);
  }

  function webhdfs(path, op) {
    return `${WEBHDFS}${encodePath(path)}?op=${op}`;
  }

  function renderCrumbs(dir) {
    const crumbs = [link("/", "/")];
    let walked = "";
    for (const name of dir.split("/").filter(Boolean)) {
      walked = join(walked || "/", name);
      crumbs.push(link(walked, name), el("span", {class: "muted"}, "/"));
    }
    fill("crumbs", crumbs);
  }

  // How the listing is ordered and which page of it shows; a new directory starts again at its first page.
  const view = {dir: null, key: "name", descending: false, page: 0};

  const SORT_KEYS = {
    name: (e) => e.pathSuffix,
    size: (e) => (e.type === "DIRECTORY" ? e.childrenNum : e.length),
    modified: (e) => e.modificationTime,
  };

  /* Directories first, then by the chosen column; names break ties so the order is stable between refreshes. */
  function sorted(listing) {
    const key = SORT_KEYS[view.key];
    const sign = view.descending ? -1 : 1;
    return [...listing].sort((a, b) => {
      const dirs = (b.type === "DIRECTORY") - (a.type === "DIRECTORY");
      if (dirs) return dirs;
      const [x, y] = [key(a), key(b)];
      const order = x < y ? -1 : x > y ? 1 : 0;
      return sign * (order || (a.pathSuffix < b.pathSuffix ? -1 : a.pathSuffix > b.pathSuffix ? 1 : 0));
    });
  }

  /* The page to show: the one holding ``selected`` when a file is opened by its URL, else the current one. */
  function pageOf(entries, dir, selected) {
    if (view.dir === dir) return Math.min(view.page, Math.max(0, Math.ceil(entries.length / PAGE_SIZE) - 1));
    const at = selected ? entries.findIndex((e) => join(dir, e.pathSuffix) === selected) : -1;
    return at >= 0 ? Math.floor(at / PAGE_SIZE) : 0;
  }

  function renderPager(total) {
    if (total <= PAGE_SIZE) {
      fill("pager");
      return;
    }
    const first = view.page * PAGE_SIZE;
    const turn = (page) => () => {
      view.page = page;
      browse();
    };
    const button = (label, page, enabled) => {
      const b = el("button", {type: "button", disabled: !enabled}, label);
      b.addEventListener("click", turn(page));
      return b;
    };
    fill("pager",
      button("\u2039 previous", view.page - 1, view.page > 0),
      ` entries ${count(first + 1)}\u2013${count(Math.min(first + PAGE_SIZE, total))} of ${count(total)} `,
      button("next \u203a", view.page + 1, first + PAGE_SIZE < total));
  }

  function markSortColumn() {
    for (const th of document.querySelectorAll("#listing th[data-sort]")) {
      th.className = th.className.replace(/ ?(ascending|descending)/g, "") +
        (th.dataset.sort === view.key ? (view.descending ? " descending" : " ascending") : "");
    }
  }

  for (const th of document.querySelectorAll("#listing th[data-sort]")) {
    th.addEventListener("click", () => {
      view.descending = view.key === th.dataset.sort ? !view.descending : false;
      view.key = th.dataset.sort;
      view.page = 0;
      browse();
    });
  }

  function entryRow(dir, entry, selected) {
    const path = join(dir, entry.pathSuffix);
    const isDir = entry.type === "DIRECTORY";
    const name = isDir ? link(path, `${entry.pathSuffix}/`) : link(path, entry.pathSuffix);
    return el("tr", {class: path === selected ? "selected" : "", "data-path": path},
      el("td", {}, name),
      el("td", {class: "num"}, isDir ? `${count(entry.childrenNum)} item${entry.childrenNum === 1 ? "" : "s"}`
                                     : bytes(entry.length)),
      el("td", {class: "num"}, isDir ? "-" : entry.replication),
      el("td", {class: "num"}, isDir ? "-" : bytes(entry.blockSize)),
      el("td", {class: "time"}, time(entry.modificationTime)),
      el("td", {}, entry.owner),
      el("td", {class: "mono"}, entry.permission));
  }

  function replicaLinks(location) {
    if (!location.hosts.length) return badge("missing");
    return location.hosts.map((host, i) => el("a", {href: webUrl(`${location.urls[i]}/`), class: "mono replica",
                                                    title: location.urls[i]}, host));
  }

  function renderDetails(path, status, locations) {
    const blocks = locations.BlockLocations.BlockLocation;
    const name = path.slice(path.lastIndexOf("/") + 1);
    const rows = blocks.map((b, i) => el("tr", {},
      el("td", {class: "num"}, i + 1),
      el("td", {class: "mono", title: b.blockId}, `${b.blockId.slice(0, 12)}\u2026`),
      el("td", {class: "num"}, bytes(b.offset)),
      el("td", {class: "num"}, bytes(b.length)),
      el("td", {}, replicaLinks(b))));
    const details = fill("file-details",
      el("h3", {}, el("span", {}, path),
        el("a", {class: "button", href: withToken(webhdfs(path, "OPEN")), download: name}, "Download")),
      el("dl", {},
        el("dt", {}, "Size"), el("dd", {}, `${bytes(status.length)} (${count(status.length)} bytes)`),
        el("dt", {}, "Replication"), el("dd", {}, status.replication),
        el("dt", {}, "Blocks"), el("dd", {id: "block-count"}, count(blocks.length)),
        el("dt", {}, "Block size"), el("dd", {}, bytes(status.blockSize)),
        el("dt", {}, "Modified"), el("dd", {}, time(status.modificationTime)),
        el("dt", {}, "Owner"), el("dd", {}, `${status.owner}:${status.group}`)),
      el("table", {id: "blocks-table"},
        el("thead", {}, el("tr", {},
          el("th", {class: "num"}, "#"), el("th", {}, "Block"), el("th", {class: "num"}, "Offset"),
          el("th", {class: "num"}, "Length"), el("th", {}, "Replicas"))),
        el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", {colspan: 5, class: "muted"}, "empty file")))));
    details.classList.remove("hidden");
  }

  async function browse() {
    const path = hashPath();
    try {
      const target = (await getJSON(webhdfs(path, "GETFILESTATUS"))).FileStatus;
      const isFile = target.type === "FILE";
      const dir = isFile ? parent(path) : path;
      const listing = sorted((await getJSON(webhdfs(dir, "LISTSTATUS"))).FileStatuses.FileStatus);
      renderCrumbs(dir);
      view.page = pageOf(listing, dir, isFile ? path : null);
      view.dir = dir;
      const shown = listing.slice(view.page * PAGE_SIZE, (view.page + 1) * PAGE_SIZE);
      const rows = shown.map((entry) => entryRow(dir, entry, isFile ? path : null));
      if (dir !== "/") rows.unshift(el("tr", {}, el("td", {colspan: 7}, link(parent(dir), "../"))));
      if (!listing.length) rows.push(el("tr", {}, el("td", {colspan: 7, class: "muted"}, "empty directory")));
      document.querySelector("#listing tbody").replaceChildren(...rows);
      renderPager(listing.length);
      markSortColumn();
      const details = document.getElementById("file-details");
      if (isFile) {
        renderDetails(path, target, await getJSON(webhdfs(path, "GETFILEBLOCKLOCATIONS")));
      } else {
        details.classList.add("hidden");
      }
      document.getElementById("browser").classList.toggle("single", !isFile);
      fill("browser-error");
    } catch (e) {
      renderCrumbs(parent(path));
      fill("browser-error", `${path}: ${e.message}`);
    }
  }

  every(REFRESH_MS, async () => {
    await Promise.all([refreshCluster(), browse()]);
  });
  window.addEventListener("hashchange", browse);
})();
