/* A datanode's own page: its blocks, its disk and the scrubber's progress, from GET /status. */
"use strict";

(() => {
  const {el, fill, bytes, count, percent, bar, disk, webUrl, getJSON, every} = dfs;

  function render(status) {
    fill("node-id", status.id || "unregistered");
    document.getElementById("namenode-link").href = webUrl(`${status.namenode}/`);
    fill("blocks", el("div", {class: "big"}, count(status.blocks)),
      ...status.volumes.map((v) => el("div", {class: v.failed ? "small bad" : "muted small"},
                                      v.failed ? `${v.root}: failed (${v.failed})` : v.root)));
    fill("disk", disk(status.capacity, status.used, status.free, "disk-text"));
    const scrub = status.scrubber;
    if (!scrub || !scrub.rate) {
      fill("scrubber", el("span", {class: "muted"}, "turned off on this node (--scrub-rate 0)"));
      return;
    }
    fill("scrubber",
      bar(scrub.position, scrub.total, scrub.corrupt ? "bad" : "ok", "this pass"),
      el("div", {id: "scrub-text"},
        `pass ${count(scrub.passes + 1)}: block ${count(scrub.position)} of ${count(scrub.total)}`,
        ` (${percent(scrub.position, scrub.total)})`),
      el("div", {class: "figures"},
        el("span", {class: "figure"}, el("b", {}, count(scrub.checked)), " checked"),
        el("span", {class: `figure ${scrub.corrupt ? "bad" : ""}`}, el("b", {}, count(scrub.corrupt)), " corrupt"),
        el("span", {class: "figure"}, el("b", {}, count(scrub.passes)), " full passes"),
        el("span", {class: "figure"}, el("b", {}, `${bytes(scrub.rate)}/s`), " at most")));
  }

  every(5000, async () => {
    try {
      render(await getJSON("/status"));
      fill("node-error");
    } catch (e) {
      fill("node-error", `node status: ${e.message}`);
      throw e;
    }
  });
})();
