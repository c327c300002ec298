/* Helpers both dfs status pages share: building elements, formatting numbers, fetching JSON, refreshing. */
"use strict";

const dfs = (() => {
  const TOKEN_KEY = "dfs-token";
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

  /* el("td", {class: "num"}, "text", otherNode): text always goes in as text, never as HTML. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(id, ...children) {
    const node = document.getElementById(id);
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  function bytes(n) {
    let value = Number(n) || 0;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${UNITS[unit]}`;
  }

  function count(n) {
    return (Number(n) || 0).toLocaleString("en-US");
  }

  function percent(part, whole) {
    return whole > 0 ? `${((100 * part) / whole).toFixed(part && part < whole / 1000 ? 2 : 1)}%` : "0%";
  }

  /* A length of time for people: 4.2 s, 17 min, 3.5 h, 12.0 d. */
  function duration(seconds) {
    const s = Number(seconds) || 0;
    if (s < 120) return `${s.toFixed(1)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  function ago(seconds) {
    return (Number(seconds) || 0) < 1 ? "just now" : `${duration(seconds)} ago`;
  }

  function time(milliseconds) {
    if (!milliseconds) return "-";
    const d = new Date(milliseconds);
    const pad = (x) => String(x).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  /* A horizontal bar filled to part/whole; ``kind`` colours it (ok, warn, bad, thin). */
  function bar(part, whole, kind, label) {
    const fraction = whole > 0 ? Math.min(1, Math.max(0, part / whole)) : 0;
    return el("div", {class: `bar ${kind || ""}`, role: "img", "aria-label": label || percent(part, whole),
                      title: label || percent(part, whole)},
              el("span", {style: `width: ${(100 * fraction).toFixed(2)}%`}));
  }

  /* A bar of several parts of one whole: [[value, cssClass, label], ...]; what is left stays empty. */
  function stacked(whole, parts, kind) {
    return el("div", {class: `bar ${kind || ""}`, role: "img", "aria-label": parts.map((p) => p[2]).join(", ")},
      parts.map(([value, kind, label]) => el("span", {
        class: kind, title: `${label}: ${percent(value, whole)}`,
        style: `width: ${(whole > 0 ? (100 * Math.min(whole, Math.max(0, value))) / whole : 0).toFixed(2)}%`})));
  }

  /* A disk as a bar and a line of text: bytes of blocks, of other files and reserve, and free. */
  function disk(capacity, used, free, textId) {
    const other = Math.max(0, capacity - used - free);
    return [
      stacked(capacity, [[used, "used", "blocks"], [other, "other", "other files and reserve"]]),
      el("div", {id: textId},
        el("b", {}, bytes(used)), " used by blocks of ", el("b", {}, bytes(capacity)),
        ` (${percent(used, capacity)}) \u00b7 `, el("b", {}, bytes(free)), " free \u00b7 ",
        el("b", {}, bytes(other)), " other files and reserve"),
    ];
  }

  /* A link target from the cluster's own data (a node's URL): only http(s), never javascript: or data:. */
  function webUrl(url) {
    return /^https?:\/\//i.test(String(url)) ? String(url) : "#";
  }

  function badge(state) {
    return el("span", {class: `badge ${state}`}, String(state).replace(/_/g, " "));
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  /* A URL the browser opens itself (a download): the token goes along as WebHDFS's delegation parameter. */
  function withToken(url) {
    const t = token();
    return t ? `${url}${url.includes("?") ? "&" : "?"}delegation=${encodeURIComponent(t)}` : url;
  }

  function askForToken() {
    const form = document.getElementById("auth");
    if (!form || !form.classList.contains("hidden")) return;
    form.classList.remove("hidden");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("auth-token").value.trim());
      location.reload();
    });
  }

  async function getJSON(url) {
    const headers = {Accept: "application/json"};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(url, {headers, cache: "no-store"});
    if (response.status === 401 || response.status === 403) {
      askForToken();
      throw new Error("this cluster wants a token");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const remote = body && body.RemoteException;
      throw new Error(remote ? remote.message : `${response.status} ${response.statusText}`);
    }
    return body;
  }

  /* Run ``task`` now and every ``ms`` while the page's auto-refresh box is ticked; never two at once. */
  function every(ms, task) {
    let running = false;
    const box = document.getElementById("autorefresh");
    const stamp = document.getElementById("updated");
    async function tick(forced) {
      if (running || (!forced && box && !box.checked)) return;
      running = true;
      try {
        await task();
        if (stamp) stamp.textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
      } catch (e) {
        if (stamp) stamp.textContent = `refresh failed: ${e.message}`;
      } finally {
        running = false;
      }
    }
    tick(true);
    setInterval(tick, ms);
    return () => tick(true);
  }

  return {el, fill, bytes, count, percent, duration, ago, time, bar, stacked, disk, webUrl, badge, getJSON, withToken,
          every};
})();
