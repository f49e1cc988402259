// vigil dashboard: plain JavaScript, no dependencies. It reads the JSON
// API, follows the Server-Sent Events stream for live changes, and posts
// drains with the admin token kept in sessionStorage.
"use strict";
(() => {
  const STATUSES = ["HEALTHY", "DEGRADED", "DRAINING", "UNHEALTHY", "UNKNOWN"];
  const TOKEN_KEY = "vigil.token";
  const COMPACT_OVER = 120;     // instances per cluster above which chips shrink to squares
  const MAX_EVENT_ROWS = 100;
  const DETAIL_REFRESH_MS = 2000;

  const state = {
    clusters: new Map(),  // name -> {view, members: Map(id -> instance)}
    cards: new Map(),     // name -> {root, counts: Map(status -> el), chips: Map(id -> el)}
    selected: null,       // {cluster, id}
    filter: "",
    loading: 0,
    dirty: new Set(),     // clusters that got events while a full load ran
    reloads: new Map(),   // cluster -> pending timer
    version: "",
  };

  const $ = (sel) => document.querySelector(sel);
  const apiURL = (path) => "api/v1/" + path;
  const enc = encodeURIComponent;

  // h builds an element: h("div", {class: "x", dataset: {a: 1}, onclick: f}, child, "text", ...)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // fill replaces an element's children, skipping empty ones.
  function fill(el, ...kids) {
    el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== undefined && k !== null && k !== false)
      .map((k) => (k instanceof Node ? k : document.createTextNode(String(k)))));
  }

  function svg(tag, attrs) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  async function getJSON(path) {
    const r = await fetch(apiURL(path), { headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(body.error || r.status + " " + r.statusText);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  function notice(msg, ok) {
    const n = $("#notice");
    n.textContent = msg;
    n.classList.toggle("ok", !!ok);
    n.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(() => { n.hidden = true; }, ok ? 4000 : 10000);
  }

  function ago(t) {
    if (!t) return "never";
    const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
    if (s < 0) return "in " + fmtDur(-s);
    return fmtDur(s) + " ago";
  }
  function fmtDur(s) {
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60 ? " " + (s % 60) + "s" : "");
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }
  const clock = (t) => new Date(t).toLocaleTimeString();

  // ---- state loading ----

  async function loadAll() {
    state.loading++;
    try {
      const [summary, list] = await Promise.all([getJSON("summary"), getJSON("clusters")]);
      state.version = summary.version || "";
      const details = await Promise.all(list.clusters.map((c) => getJSON("clusters/" + enc(c.name) + "?probes=false").catch(() => null)));
      state.clusters.clear();
      for (const d of details) if (d) putCluster(d);
      renderClusters();
    } catch (e) {
      notice("Could not load state: " + e.message);
    } finally {
      state.loading--;
    }
    if (state.loading === 0 && state.dirty.size) {
      for (const name of state.dirty) scheduleReload(name);
      state.dirty.clear();
    }
  }

  function putCluster(d) {
    const members = new Map();
    for (const m of d.instances) members.set(m.id, m);
    state.clusters.set(d.name, { view: d, members });
  }

  async function loadCluster(name) {
    try {
      const d = await getJSON("clusters/" + enc(name) + "?probes=false");
      putCluster(d);
      const old = state.cards.get(name);
      const card = renderCluster(state.clusters.get(name));
      if (old) old.root.replaceWith(card.root);
      else renderClusters();
    } catch (e) {
      if (e.status === 404) {
        state.clusters.delete(name);
        renderClusters();
      }
    }
    renderSummary();
  }

  function scheduleReload(name) {
    if (state.loading) { state.dirty.add(name); return; }
    clearTimeout(state.reloads.get(name));
    state.reloads.set(name, setTimeout(() => { state.reloads.delete(name); loadCluster(name); }, 250));
  }

  // ---- rendering: clusters ----

  function counts(c) {
    const out = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const m of c.members.values()) out[m.status] = (out[m.status] || 0) + 1;
    return out;
  }

  function renderSummary() {
    const total = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    let n = 0;
    for (const c of state.clusters.values()) {
      for (const [s, k] of Object.entries(counts(c))) total[s] += k;
      n += c.members.size;
    }
    const el = $("#summary");
    fill(el,
      h("span", { class: "muted" }, state.clusters.size + " clusters · " + n + " instances"),
      ...STATUSES.map((s) => h("span", { class: "count", dataset: { status: s }, "data-zero": total[s] === 0 }, s + " " + total[s])),
      state.version ? h("span", { class: "muted" }, "v" + state.version) : null,
    );
  }

  function renderClusters() {
    const root = $("#clusters");
    state.cards.clear();
    if (state.clusters.size === 0) {
      fill(root, h("p", { class: "muted" }, "No clusters configured."));
    } else {
      fill(root, ...[...state.clusters.values()].map((c) => renderCluster(c).root));
    }
    renderSummary();
  }

  function renderCluster(c) {
    const v = c.view;
    const cnt = counts(c);
    const countEls = new Map();
    const chips = new Map();
    const countBox = h("div", { class: "counts" }, STATUSES.map((s) => {
      const el = h("span", { class: "count", dataset: { status: s }, "data-zero": cnt[s] === 0, title: s }, s + " " + cnt[s]);
      countEls.set(s, el);
      return el;
    }));
    const probes = v.probes.map((p) => p.probe + " " + (p.kind === "http" ? p.path : p.kind)).join(", ");
    const list = h("div", { class: "instances" + (c.members.size > COMPACT_OVER ? " compact" : "") });
    for (const m of c.members.values()) {
      const chip = h("button", { type: "button", class: "inst", onclick: () => showDetail(v.name, m.id) }, m.id);
      chip.dataset.instance = m.id;
      paintChip(chip, m);
      chips.set(m.id, chip);
      list.append(chip);
    }
    const root = h("section", { class: "cluster", dataset: { cluster: v.name } },
      h("div", { class: "cluster-head" },
        h("h2", {}, v.name),
        h("span", { class: "meta" }, (v.eds_name !== v.name ? "eds " + v.eds_name + " · " : "") + c.members.size + " instances" + (probes ? " · " + probes : "")),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "danger", title: "Drain every instance of " + v.name, onclick: () => drainCluster(v.name) }, "drain all"),
          h("button", { type: "button", title: "Undrain every instance of " + v.name, onclick: () => undrainCluster(v.name) }, "undrain all"))),
      countBox,
      list);
    const card = { root, counts: countEls, chips };
    state.cards.set(v.name, card);
    applyFilter(card);
    markSelected();
    return card;
  }

  function paintChip(chip, m) {
    chip.dataset.status = m.status;
    if (m.override) chip.dataset.override = "";
    else delete chip.dataset.override;
    chip.title = m.id + (m.address && m.address !== m.id ? " (" + m.address + ")" : "") + "\n" + m.status +
      (m.reason ? ": " + m.reason : "") + (m.override ? "\nmanual drain by " + m.override.by + ": " + m.override.reason : "");
  }

  function updateCounts(name) {
    const c = state.clusters.get(name);
    const card = state.cards.get(name);
    if (!c || !card) return;
    const cnt = counts(c);
    for (const [s, el] of card.counts) {
      el.textContent = s + " " + cnt[s];
      el.toggleAttribute("data-zero", cnt[s] === 0);
    }
  }

  function applyFilter(card) {
    const f = state.filter;
    const c = state.clusters.get(card.root.dataset.cluster);
    for (const [id, chip] of card.chips) {
      const m = c && c.members.get(id);
      chip.hidden = !!f && !(m && [m.id, m.address, m.zone, m.region, m.status].some((x) => (x || "").toLowerCase().includes(f)));
    }
  }

  function markSelected() {
    for (const [name, card] of state.cards) {
      for (const [id, chip] of card.chips) {
        chip.setAttribute("aria-pressed", String(!!state.selected && state.selected.cluster === name && state.selected.id === id));
      }
    }
  }

  // ---- live events ----

  function onEvent(ev) {
    addEventRow(ev, true);
    if (state.loading) { state.dirty.add(ev.cluster); return; }
    const c = state.clusters.get(ev.cluster);
    const m = c && c.members.get(ev.instance);
    if (!c || !m || ev.kind === "added" || ev.kind === "removed") {
      scheduleReload(ev.cluster);
      return;
    }
    m.status = ev.to;
    m.reason = ev.reason;
    m.since = ev.time;
    const card = state.cards.get(ev.cluster);
    const chip = card && card.chips.get(ev.instance);
    if (chip) paintChip(chip, m);
    updateCounts(ev.cluster);
    renderSummary();
    if (ev.kind === "override") scheduleReload(ev.cluster); // fetch the override's details
    if (state.selected && state.selected.cluster === ev.cluster && state.selected.id === ev.instance) refreshDetail();
  }

  function addEventRow(ev, live) {
    const list = $("#events");
    const row = h("li", { dataset: { seq: ev.seq } },
      h("span", { class: "when", title: ev.time }, clock(ev.time)),
      h("strong", {}, ev.cluster + "/" + ev.instance), " ",
      ev.kind === "transition" || ev.kind === "override"
        ? [h("span", { class: "badge", dataset: { status: ev.from } }, ev.from), " → ", h("span", { class: "badge", dataset: { status: ev.to } }, ev.to)]
        : h("span", { class: "muted" }, ev.kind),
      ev.by ? h("span", { class: "muted" }, " by " + ev.by) : null,
      ev.reason ? h("span", { class: "reason" }, ev.reason) : null);
    if (live) list.prepend(row);
    else list.append(row);
    while (list.children.length > MAX_EVENT_ROWS) list.lastChild.remove();
  }

  async function loadEvents() {
    try {
      const page = await getJSON("events?limit=50");
      fill($("#events"));
      for (const ev of page.events) addEventRow(ev, false);
    } catch (e) {
      notice("Could not load events: " + e.message);
    }
  }

  function setConn(s) {
    const el = $("#conn");
    el.dataset.state = s;
    el.textContent = s;
  }

  function connect() {
    const es = new EventSource(apiURL("events/stream"));
    es.addEventListener("hello", () => setConn("live"));
    es.onopen = () => setConn("live");
    es.onerror = () => setConn("reconnecting");
    es.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (e) { console.error("bad event", e); }
    };
    es.addEventListener("resync", () => { loadAll(); loadEvents(); });
    es.addEventListener("clusters", () => loadAll());
  }

  // ---- instance detail ----

  async function showDetail(cluster, id) {
    state.selected = { cluster, id };
    markSelected();
    const d = $("#detail");
    d.hidden = false;
    fill(d,
      h("h2", {}, cluster + " / " + id),
      h("div", { class: "info" }, h("p", { class: "muted" }, "loading…")),
      drainForm(cluster, id),
      h("div", { class: "probes" }));
    await refreshDetail();
  }

  async function refreshDetail() {
    const sel = state.selected;
    if (!sel) return;
    let d;
    try {
      d = await getJSON("clusters/" + enc(sel.cluster) + "/instances/" + enc(sel.id));
    } catch (e) {
      if (e.status === 404) closeDetail();
      return;
    }
    if (state.selected !== sel) return;
    const root = $("#detail");
    root.dataset.status = d.status;
    fill(root.querySelector("h2"),
      h("span", { class: "badge", dataset: { status: d.status } }, d.status), d.cluster + " / " + d.id,
      h("button", { type: "button", class: "close", title: "close", onclick: closeDetail }, "×"));
    const rows = [
      ["address", d.address], ["reason", d.reason || "—"],
      ["since", d.since ? ago(d.since) + " (" + new Date(d.since).toLocaleString() + ")" : "—"],
      ["weight", d.weight], ["zone", [d.region, d.zone, d.sub_zone].filter(Boolean).join(" / ") || "—"],
      ["source", d.source || "—"],
    ];
    for (const [k, v] of Object.entries(d.meta || {})) rows.push(["meta." + k, v]);
    fill(root.querySelector(".info"),
      h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
      d.override ? h("div", { class: "override" },
        h("strong", {}, "Manual drain"), " by " + d.override.by + ": " + d.override.reason,
        h("br"), h("span", { class: "muted" }, "since " + ago(d.override.since) +
          (d.override.expires ? " · ends " + ago(d.override.expires) : " · until undrained"))) : null);
    fill(root.querySelector(".votes") || root.insertBefore(h("div", { class: "votes" }), root.querySelector(".probes")),
      d.replicas ? renderVotes(d.replicas) : null);
    fill(root.querySelector(".probes"),
      ...[["liveness", d.liveness], ["readiness", d.readiness]].filter(([, p]) => p).map(([n, p]) => renderProbe(n, p)),
      !d.liveness && !d.readiness ? h("p", { class: "muted" }, "No probe details yet.") : null);
  }

  // renderVotes shows each replica's verdict on the instance next to the
  // merged one that every replica publishes.
  function renderVotes(v) {
    const verdict = (x) => "live " + (x.live || "—") + " · ready " + (x.ready || "—") + (x.degraded ? " · degraded" : "");
    return h("div", { class: "replica-votes" },
      h("h3", {}, "Replica votes"),
      h("table", { class: "votes-table" },
        h("thead", {}, h("tr", {}, ["replica", "status", "verdict", "reason"].map((t) => h("th", {}, t)))),
        h("tbody", {},
          h("tr", { class: "merged" }, h("td", {}, "merged"),
            h("td", {}, h("span", { class: "badge", dataset: { status: v.merged_status } }, v.merged_status)),
            h("td", {}, verdict(v.merged_verdict)), h("td", {}, v.merged_reason || "")),
          v.votes.map((x) => h("tr", { dataset: { voting: String(x.voting) } },
            h("td", {}, x.replica + (x.self ? " (this)" : "") + (x.voting ? "" : " (not voting)")),
            h("td", {}, h("span", { class: "badge", dataset: { status: x.status } }, x.status)),
            h("td", {}, verdict(x.verdict)), h("td", {}, x.reason || ""))))));
  }

  // ---- replicas ----

  async function loadReplicas() {
    let v;
    try {
      v = await getJSON("replicas");
    } catch (e) {
      $("#replicas").hidden = true;
      return e.status !== 404; // replicas off: stop asking
    }
    const panel = $("#replicas");
    panel.hidden = false;
    fill(panel.querySelector("h2"), "Replicas", h("span", { class: "muted" },
      " · writer " + (v.writer || "none") + " · " + v.disagreements + " disagreement" + (v.disagreements === 1 ? "" : "s")));
    fill(panel.querySelector("tbody"), v.replicas.map((r) => h("tr", { dataset: { live: String(r.live) } },
      h("td", {}, r.id + (r.self ? " (this)" : ""), r.writer ? h("span", { class: "writer", title: "writes the Consul catalog" }, "writer") : null),
      h("td", {}, r.advertise),
      h("td", {}, !r.live ? "gone" : r.voting ? "voting" : r.connected ? "connected" : "not heard" + (r.error ? ": " + r.error : "")),
      h("td", {}, r.self ? "—" : r.last_heard ? ago(r.last_heard) : "never"))));
    return true;
  }

  function closeDetail() {
    state.selected = null;
    $("#detail").hidden = true;
    markSelected();
  }

  function drainForm(cluster, id) {
    const reason = h("input", { type: "text", placeholder: "reason", "aria-label": "drain reason" });
    const ttl = h("input", { type: "text", placeholder: "ttl (10m)", "aria-label": "drain ttl" });
    const body = () => {
      const b = { reason: reason.value.trim() };
      if (ttl.value.trim()) b.ttl = ttl.value.trim();
      return b;
    };
    const base = "clusters/" + enc(cluster) + "/instances/" + enc(id);
    return h("div", { class: "drain-form" }, reason, ttl,
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "danger", id: "drain-btn", onclick: async () => {
          if (await mutate(base + "/drain", body())) { notice("Drained " + id, true); refreshDetail(); scheduleReload(cluster); }
        } }, "Drain"),
        h("button", { type: "button", id: "undrain-btn", onclick: async () => {
          if (await mutate(base + "/undrain", {})) { notice("Undrained " + id, true); refreshDetail(); scheduleReload(cluster); }
        } }, "Undrain")));
  }

  function renderProbe(name, p) {
    const hist = p.history || (p.last ? [p.last] : []);
    return h("div", { class: "probe", dataset: { probe: name } },
      h("h3", {}, name, h("span", { class: "muted" }, p.state)),
      h("div", { class: "stats" },
        p.consecutive_successes + " passes / " + p.consecutive_failures + " failures in a row" +
        (p.next_probe ? " · next " + ago(p.next_probe) : "")),
      sparkline(hist),
      h("table", { class: "history" },
        h("thead", {}, h("tr", {}, ["time", "http", "ms", "verdict", "reason / components"].map((t) => h("th", {}, t)))),
        h("tbody", {}, hist.map((r) => h("tr", {},
          h("td", { title: r.time }, clock(r.time)),
          h("td", { class: "num" }, r.http_status || "—"),
          h("td", { class: "num" }, r.latency_ms.toFixed(1)),
          h("td", {}, h("span", { class: "verdict", dataset: { verdict: r.verdict } }, r.verdict)),
          h("td", {}, r.reason || "",
            (r.components || []).length ? h("div", { class: "components" },
              r.components.map((c) => c.name + "=" + c.status + (c.message ? " (" + c.message + ")" : "")).join(", ")) : null))))));
  }

  const VERDICT_COLOR = { pass: "#2e9d4f", degraded: "#e3b505", drain: "#7b52d6", fail: "#d63b3b" };

  // sparkline draws latency over the history, oldest left, one dot per
  // result colored by its verdict.
  function sparkline(hist) {
    const W = 360, H = 48, P = 4;
    const pts = hist.slice().reverse();
    const s = svg("svg", { class: "sparkline", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "latency of the last " + pts.length + " probes" });
    if (pts.length === 0) return s;
    const max = Math.max(...pts.map((r) => r.latency_ms), 1);
    const x = (i) => pts.length === 1 ? W / 2 : P + (i * (W - 2 * P)) / (pts.length - 1);
    const y = (v) => H - P - (v / max) * (H - 2 * P);
    s.append(svg("polyline", { points: pts.map((r, i) => x(i).toFixed(1) + "," + y(r.latency_ms).toFixed(1)).join(" ") }));
    pts.forEach((r, i) => {
      const c = svg("circle", { cx: x(i).toFixed(1), cy: y(r.latency_ms).toFixed(1), r: 2.5, fill: VERDICT_COLOR[r.verdict] || "#999" });
      const t = svg("title");
      t.textContent = clock(r.time) + ": " + r.latency_ms.toFixed(1) + " ms, " + r.verdict;
      c.append(t);
      s.append(c);
    });
    const label = svg("text", { x: W - P, y: 11, "text-anchor": "end", "font-size": 10, fill: "#6b7280" });
    label.textContent = "max " + max.toFixed(1) + " ms";
    s.append(label);
    return s;
  }

  // ---- mutating calls ----

  function token(ask) {
    let t = sessionStorage.getItem(TOKEN_KEY);
    if (!t && ask) {
      t = (window.prompt("Admin token (kept in this tab only)") || "").trim();
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
    }
    return t;
  }

  async function mutate(path, body) {
    const t = token(true);
    if (!t) return null;
    let r, data;
    try {
      r = await fetch(apiURL(path), {
        method: "POST",
        headers: { Authorization: "Bearer " + t, "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
      data = await r.json().catch(() => ({}));
    } catch (e) {
      notice("Request failed: " + e.message);
      return null;
    }
    if (r.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      notice("Token rejected (" + (data.error || "401") + "); you will be asked again.");
      return null;
    }
    if (!r.ok) {
      notice(data.error || r.status + " " + r.statusText);
      return null;
    }
    return data;
  }

  async function drainCluster(name) {
    const reason = window.prompt("Drain every instance of " + name + ". Reason:");
    if (reason === null) return;
    const res = await mutate("clusters/" + enc(name) + "/drain", { reason });
    if (res) { notice("Drained " + res.instances.length + " instances of " + name, true); scheduleReload(name); }
  }

  async function undrainCluster(name) {
    const res = await mutate("clusters/" + enc(name) + "/undrain", {});
    if (res) { notice("Undrained " + res.instances.length + " instances of " + name, true); scheduleReload(name); }
  }

  // ---- start ----

  $("#token-btn").addEventListener("click", () => {
    if (token(false)) {
      if (window.confirm("Forget the admin token of this tab?")) sessionStorage.removeItem(TOKEN_KEY);
    } else {
      token(true);
    }
  });
  $("#filter").addEventListener("input", (e) => {
    state.filter = e.target.value.trim().toLowerCase();
    for (const card of state.cards.values()) applyFilter(card);
  });
  setInterval(() => { if (state.selected && !document.hidden) refreshDetail(); }, DETAIL_REFRESH_MS);

  loadReplicas().then((on) => {
    if (on) setInterval(() => { if (!document.hidden) loadReplicas(); }, DETAIL_REFRESH_MS);
  });
  connect();
  loadAll();
  loadEvents();
})();
