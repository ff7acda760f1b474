// The Item Sync Monitor's script. It takes the admin token once, from a #token= fragment
// (never sent to the server) or the form, keeps it for this tab in sessionStorage, and
// calls the admin API with it as a bearer header. Views are addressed by the fragment
// (#/search?q=..., #/pair/ID, #/connection/ID, #/dead-letters), so the back button and
// links work; each view refreshes its data every two seconds while it is shown. Values
// are put on the page as text nodes only, never as HTML.
"use strict";

const KEY = "twinsync-admin-token";
const REFRESH_MS = 2000;
let refreshTimer = null;
let currentRefresh = null;

// ---- plumbing -----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : String(c));
}

class ApiError extends Error {}

async function api(method, path, body) {
  const token = sessionStorage.getItem(KEY);
  const init = { method, headers: { Authorization: "Bearer " + token }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    sessionStorage.removeItem(KEY);
    showLogin("The node refused that token.");
    throw new ApiError("not signed in");
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!resp.ok) throw new ApiError((data && data.error) || text || "HTTP " + resp.status);
  return data;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : "-";
}

function short(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "object" && !Array.isArray(v) && typeof v.name === "string") return v.name;
  if (typeof v === "object" && !Array.isArray(v) && typeof v.email === "string") return v.email;
  return JSON.stringify(v);
}

function status(row) {
  return h("span", { class: "status " + row.status, title: row.error || row.status },
    row.error ? "error: " + row.error : row.status);
}

function link(url, text) {
  return url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text) : text;
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// Shows what an action did (or why it failed) in the notice bar, then refreshes.
async function act(label, fn) {
  const notice = document.getElementById("notice");
  fill(notice, label + "…");
  notice.className = "notice";
  try {
    const result = await fn();
    fill(notice, label + ": " + describe(result));
  } catch (e) {
    notice.className = "notice error";
    fill(notice, label + " failed: " + e.message);
  }
  if (currentRefresh) currentRefresh();
}

// What an action did, in words (the API answers JSON).
function describe(r) {
  if (r === null || r === undefined) return "done";
  if (typeof r === "string") return r;
  if (typeof r.done === "string") return r.done;
  if ("redriven" in r && "queued" in r) {
    return r.redriven ? `${r.redriven} dead-lettered messages sent back to their queues`
      : `the item is sent again (${r.queued} change queued)`;
  }
  if ("redriven" in r) return `${r.redriven} dead-lettered messages sent back to their queues`;
  if ("queued" in r) return `${r.queued} change(s) queued`;
  if ("removed" in r) return `${r.removed} pairs removed`;
  if ("resumed" in r) return `active again; ${r.resumed} held changes resumed`;
  if (r.id && r.kind) return `job ${r.id} (${r.kind}) ${String(r.status).toLowerCase()}`;
  if (r.status) return String(r.status).toLowerCase();
  return JSON.stringify(r);
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty || "Nothing here.");
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

// ---- views --------------------------------------------------------------------------

function searchForm(params) {
  const q = h("input", { id: "q", name: "q", type: "search", value: params.get("q") || "",
    placeholder: "key, summary or error text  ( / )", "aria-label": "search", size: 40 });
  const st = h("select", { name: "status", "aria-label": "status" },
    ["", "syncing", "synced", "error", "unlinked"].map((s) =>
      h("option", { value: s, selected: (params.get("status") || "") === s }, s || "any status")));
  const conn = h("input", { name: "connection", value: params.get("connection") || "",
    placeholder: "connection id", "aria-label": "connection", size: 14 });
  return h("form", { id: "search", role: "search", onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (q.value.trim()) p.set("q", q.value.trim());
    if (st.value) p.set("status", st.value);
    if (conn.value.trim()) p.set("connection", conn.value.trim());
    go("#/search?" + p.toString());
  } }, q, " ", st, " ", conn, " ", h("button", { type: "submit" }, "Search"));
}

function twinRows(twins, withRetry) {
  return twins.map((t) => h("tr", { class: "row", "data-href": "#/pair/" + encodeURIComponent(t.id) },
    h("td", {}, h("a", { href: "#/pair/" + encodeURIComponent(t.id) }, t.local_key || "(reserved)")),
    h("td", {}, t.remote_key || "-"),
    h("td", {}, t.summary || ""),
    h("td", {}, status(t)),
    h("td", {}, t.connection_id),
    h("td", { class: "num" }, `v${t.out_version} / v${t.acked_version} / v${t.in_version}`),
    withRetry ? h("td", {}, h("button", { class: "retry", onclick: () =>
      act("Retry " + (t.local_key || t.id), () => api("POST", `/api/twins/${encodeURIComponent(t.id)}/retry`, {})) },
      "Retry")) : null));
}

const TWIN_HEADERS = ["this side", "other side", "summary", "status", "connection", "sent / acked / applied"];

function jobRows(jobs) {
  return jobs.slice(0, 20).map((j) => h("tr", {},
    h("td", {}, j.id), h("td", {}, j.connection_id), h("td", {}, j.kind), h("td", {}, j.status),
    h("td", {}, h("progress", { max: Math.max(j.total || j.done, 1), value: j.done }), ` ${j.done} / ${j.total ?? "?"}`),
    h("td", { class: "num" }, j.failed), h("td", {}, (j.errors || []).slice(-1)[0] || ""),
    h("td", {}, j.status === "Running" || j.status === "Queued"
      ? h("button", { onclick: () => act("Cancel " + j.id, () => api("POST", `/api/jobs/${j.id}/cancel`, {})) }, "Cancel")
      : "")));
}

const JOB_HEADERS = ["job", "connection", "kind", "status", "progress", "failed", "last error", ""];

function capacityRows(workspaces) {
  return workspaces.flatMap((w) => (w.integrations.length ? w.integrations : [null]).map((i) => h("tr", {},
    h("td", {}, w.name + " (" + w.id + ")"),
    h("td", {}, i ? i.name + " (" + i.id + ")" : "no integration yet"),
    h("td", {}, i ? i.plan : ""),
    h("td", {}, i ? [h("progress", { max: Math.max(i.item_capacity, 1), value: Math.min(i.used, i.item_capacity) }),
      ` ${i.used} / ${i.item_capacity}`] : ""),
    h("td", { class: i && i.full ? "error" : "" }, i && i.full ? "capacity reached: new items stay out of sync" : ""),
    h("td", {}, i ? i.connections.join(", ") : ""),
    h("td", {}, w.tokens.map((t) => `${t.name} (${t.role})`).join(", ")))));
}

function overviewView(main) {
  const conns = h("div"), errors = h("div"), jobs = h("div"), queues = h("div"), spaces = h("div");
  fill(main, h("h2", {}, "Connections"), conns, h("h2", {}, "Workspaces and item capacity"), spaces,
    h("h2", {}, "Errors"), errors, h("h2", {}, "Bulk jobs"), jobs, h("h2", {}, "Queues"), queues);
  return async () => {
    const o = await api("GET", "/api/monitor");
    fill(conns, table(["connection", "status", "tracker here", "other node", "active version", ""],
      o.connections.map((c) => h("tr", {},
        h("td", {}, h("a", { href: "#/connection/" + encodeURIComponent(c.id) }, c.name || c.id)),
        h("td", {}, h("span", { class: "status " + c.status.toLowerCase() }, c.status),
          c.status_reason ? " (" + c.status_reason + ")" : ""),
        h("td", {}, c.local_instance), h("td", {}, c.remote_node),
        h("td", {}, c.active_version ?? "-"),
        h("td", {}, pauseButton(c)))), "No connections yet."));
    fill(spaces, table(["workspace", "integration", "plan", "items under sync", "", "connections", "tokens"],
      capacityRows(o.workspaces), "No workspace yet: twinsync workspace create."));
    fill(errors, table([...TWIN_HEADERS, ""], twinRows(o.errors, true), "No pair is in error."));
    fill(jobs, table(JOB_HEADERS, jobRows(o.jobs), "No bulk jobs."));
    fill(queues, table(["queue", "waiting", "in flight", "delayed"], o.queues.map((q) => h("tr", {},
      h("td", {}, q.name), h("td", { class: "num" }, q.visible), h("td", { class: "num" }, q.in_flight),
      h("td", { class: "num" }, q.delayed)))));
  };
}

function pauseButton(c) {
  if (c.status === "Active") {
    return h("button", { onclick: () => act("Pause " + c.id,
      () => api("POST", `/api/connections/${encodeURIComponent(c.id)}/deactivate`, {})) }, "Pause");
  }
  if (c.status === "Deactivated") {
    return h("button", { onclick: () => act("Resume " + c.id,
      () => api("POST", `/api/connections/${encodeURIComponent(c.id)}/activate`, {})) }, "Resume");
  }
  return "";
}

function searchView(main, params) {
  const results = h("div");
  fill(main, h("h2", {}, "Sync pairs"), results);
  return async () => {
    const q = new URLSearchParams(params);
    const page = await api("GET", "/api/search?" + q.toString());
    const nav = h("p", { class: "pager" },
      params.get("cursor") ? h("button", { onclick: () => { params.delete("cursor"); go("#/search?" + params); } }, "First page") : null,
      " ",
      page.next ? h("button", { id: "next", onclick: () => { params.set("cursor", page.next); go("#/search?" + params); } }, "Next page") : null);
    fill(results, table(TWIN_HEADERS, twinRows(page.twins, false), "No sync pair matches."), nav);
    selectRow(0, true);
  };
}

function opButtons(view) {
  const t = view.twin, key = t.local_key;
  const op = (name, extra) => () => api("POST",
    `/api/connections/${encodeURIComponent(t.connection_id)}/operations/${name}`, { item: key, ...extra });
  const remote = h("input", { id: "relink-remote", placeholder: "other side's key", size: 12, "aria-label": "relink to" });
  return h("div", { class: "ops" },
    h("button", { onclick: () => act("Sync " + key, op("sync")), disabled: !key }, "Sync"),
    t.status === "error" ? h("button", { id: "retry", onclick: () => act("Retry " + key,
      () => api("POST", `/api/twins/${encodeURIComponent(t.id)}/retry`, {})) }, "Retry") : null,
    h("button", { id: "unlink", onclick: () => act("Unlink " + key, op("unlink")), disabled: !key }, "Unlink"),
    h("button", { onclick: () => confirm(`Unexalate ${key}? The pair is forgotten on both sides.`)
      && act("Unexalate " + key, op("unexalate")), disabled: !key }, "Unexalate"),
    h("button", { onclick: () => confirm(`Force Unlink ${key}? Changes still waiting are dropped.`)
      && act("Force Unlink " + key, op("force-unlink")), disabled: !key }, "Force Unlink"),
    " ", remote,
    h("button", { onclick: () => remote.value.trim() && act("Relink " + key, op("relink", { remote: remote.value.trim() })),
      disabled: !key }, "Relink"));
}

function pairView(main, id) {
  const head = h("div"), ops = h("div"), fields = h("div"), history = h("div"), diff = h("div"), events = h("div");
  fill(main, head, ops, h("h2", {}, "Field by field"), fields, h("h2", {}, "Replica history"), history, diff,
    h("h2", {}, "Timeline"), events);
  let built = false;
  return async () => {
    const v = await api("GET", `/api/twins/${encodeURIComponent(id)}/pair`);
    const t = v.twin;
    fill(head, h("h2", { id: "pair-title" }, link(t.local_url, t.local_key || "(reserved)"), " ⇄ ",
      link(t.remote_url, t.remote_key || "(not made yet)")),
      h("p", {}, "Status: ", status(t), ` · sent v${t.out_version}, acknowledged v${t.acked_version}, applied v${t.in_version}`,
        ` · connection ${v.connection_name} (${t.connection_id}) with ${v.remote_node}`),
      v.local_error ? h("p", { class: "error" }, "This side's item: " + v.local_error) : null);
    // Rebuilt only when the pair changes, so text typed into Relink survives a refresh.
    const sig = [t.status, t.local_key, t.remote_key].join("|");
    if (ops.dataset.sig !== sig) {
      ops.dataset.sig = sig;
      fill(ops, opButtons(v));
    }
    fill(fields, table(["field", `this side (${v.local_instance}, last sent)`, `other side (${v.remote_node}, last received)`],
      v.fields.map((f) => h("tr", { class: f.same ? "" : "differs" }, h("td", {}, f.field),
        h("td", {}, short(f.here)), h("td", {}, short(f.there)))), "No replica yet."));
    // Rebuilt when a replica comes, told by the newest one: a full history keeps its length.
    const newest = v.history[v.history.length - 1];
    const kept = newest ? [v.history.length, newest.direction, newest.version, newest.at_ms].join("|") : "";
    if (!built || history.dataset.sig !== kept) {
      built = true;
      history.dataset.sig = kept;
      fill(history, historyTable(v, id, diff));
    }
    fill(events, table(["at", "kind", "detail"], v.events.map((e) => h("tr", { class: "event " + e.kind.toLowerCase() },
      h("td", {}, when(e.at_ms)), h("td", {}, e.kind), h("td", {}, e.detail))), "No events."));
  };
}

function historyTable(v, id, diff) {
  if (!v.history.length) return h("p", { class: "empty" }, "No replica sent or received yet.");
  const n = v.history.length;
  const rows = v.history.map((r, i) => h("tr", {},
    h("td", {}, h("input", { type: "radio", name: "from", value: r.id, checked: i === Math.max(n - 2, 0), "aria-label": "from " + r.id })),
    h("td", {}, h("input", { type: "radio", name: "to", value: r.id, checked: i === n - 1, "aria-label": "to " + r.id })),
    h("td", {}, r.direction === "out" ? "sent" : "received"), h("td", { class: "num" }, "v" + r.version),
    h("td", {}, when(r.at_ms))));
  const show = h("button", { id: "show-diff", onclick: async () => {
    const from = document.querySelector("input[name=from]:checked").value;
    const to = document.querySelector("input[name=to]:checked").value;
    try {
      // By id, not by place: a full history moves up by one as a replica comes.
      const d = await api("GET", `/api/twins/${encodeURIComponent(id)}/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
      fill(diff, h("h3", {}, `Diff: ${d.from.direction} v${d.from.version} → ${d.to.direction} v${d.to.version}`),
        table(["field", "change", "before", "after"], d.changes.map((c) => h("tr", { class: "change " + c.change },
          h("td", {}, c.field), h("td", {}, c.change), h("td", {}, short(c.before)), h("td", {}, short(c.after)))),
          "The two replicas are the same."));
    } catch (e) { fill(diff, h("p", { class: "error" }, e.message)); }
  } }, "Show diff");
  const limit = h("p", { class: "hint" }, `The newest ${v.history_limit} sent and ${v.history_limit} received are kept.`);
  return [table(["from", "to", "direction", "version", "at"], rows), limit, show];
}

function connectionView(main, id) {
  const head = h("div"), versions = h("div"), testrun = h("div"), jobs = h("div");
  const enc = encodeURIComponent(id);
  const items = h("input", { id: "testrun-items", placeholder: "item keys, comma separated", size: 30, "aria-label": "Test Run items" });
  const version = h("input", { id: "testrun-version", type: "number", min: 1, size: 4, "aria-label": "version" });
  const controls = h("div", { class: "ops" },
    h("button", { onclick: () => act("Bulk Exalate", () => api("POST", `/api/connections/${enc}/jobs`, { kind: "exalate" })) }, "Bulk Exalate"),
    h("button", { onclick: () => act("Bulk Sync", () => api("POST", `/api/connections/${enc}/jobs`, { kind: "sync" })) }, "Bulk Sync"),
    h("button", { onclick: () => act("Redrive", () => api("POST", `/api/connections/${enc}/operations/redrive`, {})) }, "Redrive dead letters"),
    h("button", { onclick: () => confirm("Clean up: forget pairs whose items are gone?")
      && act("Clean-up", () => api("POST", `/api/connections/${enc}/operations/clean-up`, {})) }, "Clean-up"));
  const runForm = h("form", { onsubmit: (e) => {
    e.preventDefault();
    const keys = items.value.split(",").map((s) => s.trim()).filter(Boolean);
    act("Test Run", async () => {
      const r = await api("POST", `/api/connections/${enc}/versions/${version.value}/test-run`, { items: keys });
      fill(testrun, testRunTable(r));
      return `version ${r.version}: ${r.items.length} items`;
    });
  } }, "Test Run of version ", version, " on ", items, " ", h("button", { type: "submit" }, "Run"));
  fill(main, head, controls, h("h2", {}, "Versions"), versions, runForm, testrun, h("h2", {}, "Bulk jobs"), jobs);
  return async () => {
    const o = await api("GET", "/api/monitor");
    const c = o.connections.find((x) => x.id === id);
    if (!c) { fill(head, h("p", { class: "error" }, "No connection " + id)); return; }
    fill(head, h("h2", {}, `Connection ${c.name || c.id}`),
      h("p", {}, "Status: ", h("span", { class: "status " + c.status.toLowerCase() }, c.status),
        c.status_reason ? ` (${c.status_reason})` : "", ` · tracker ${c.local_instance} · other node ${c.remote_node} `,
        pauseButton(c), " ", h("a", { href: "#/search?connection=" + enc }, "its sync pairs")));
    if (!version.value) {
      const draft = c.versions.filter((v) => v.status === "Draft").pop() || c.versions[c.versions.length - 1];
      if (draft) version.value = draft.number;
    }
    fill(versions, table(["version", "status", "note", ""], c.versions.map((v) => h("tr", {},
      h("td", { class: "num" }, v.number), h("td", {}, v.status), h("td", {}, v.note),
      h("td", {}, v.status === "Draft" ? h("button", { onclick: () => act("Activate version " + v.number,
        () => api("POST", `/api/connections/${enc}/versions/${v.number}/activate`, {})) }, "Activate") : "")))));
    fill(jobs, table(JOB_HEADERS, jobRows(o.jobs.filter((j) => j.connection_id === id)), "No bulk jobs."));
  };
}

function testRunTable(r) {
  return [r.other_side_error ? h("p", { class: "error" }, "Other side: " + r.other_side_error) : null,
    table(["item", "would send", "replica / error", "other side would"], r.items.map((i) => h("tr", {},
      h("td", {}, i.item), h("td", {}, i.would_send ? "yes" : "no"),
      h("td", {}, i.error || short(i.replica && i.replica.summary)),
      h("td", {}, i.other_side ? (i.other_side.error || (i.other_side.would_create ? "create an item"
        : "update " + i.other_side.target_key)) : "-"))))];
}

function deadLettersView(main) {
  const list = h("div");
  fill(main, h("h2", {}, "Dead letters"), list);
  return async () => {
    const rows = await api("GET", "/api/dead-letters");
    const conns = [...new Set(rows.map((r) => r.connection_id))];
    fill(list, table(["queue", "connection", "item", "sent", "why"], rows.map((r) => h("tr", {},
      h("td", {}, r.queue), h("td", {}, r.connection_id),
      h("td", {}, r.twin_id ? h("a", { href: "#/pair/" + encodeURIComponent(r.twin_id) }, r.item_key) : r.item_key),
      h("td", {}, when(r.sent_ms)), h("td", {}, r.reason || ""))), "No dead letters."),
      h("p", { class: "ops" }, conns.map((c) => h("button", { onclick: () => act("Redrive " + c,
        () => api("POST", `/api/connections/${encodeURIComponent(c)}/operations/redrive`, {})) }, "Redrive " + c))));
  };
}

// ---- routing, refresh, keyboard --------------------------------------------------------

function route() {
  if (!sessionStorage.getItem(KEY)) { showLogin("Enter the node's admin token."); return; }
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const main = document.getElementById("view");
  fill(document.getElementById("search-slot"), searchForm(params));
  let refresh;
  if (path.startsWith("/pair/")) refresh = pairView(main, decodeURIComponent(path.slice(6)));
  else if (path.startsWith("/connection/")) refresh = connectionView(main, decodeURIComponent(path.slice(12)));
  else if (path === "/search") refresh = searchView(main, params);
  else if (path === "/dead-letters") refresh = deadLettersView(main);
  else refresh = overviewView(main);
  start(refresh);
}

function start(refresh) {
  clearTimeout(refreshTimer);
  const live = document.getElementById("live");
  const tick = async () => {
    if (currentRefresh !== run) return;
    try {
      await refresh();
      live.className = "live";
      fill(live, "live · " + new Date().toLocaleTimeString());
    } catch (e) {
      live.className = "live error";
      fill(live, e instanceof ApiError ? e.message : "the node did not answer: " + e);
    }
    if (currentRefresh === run) refreshTimer = setTimeout(tick, REFRESH_MS);
  };
  const run = () => { clearTimeout(refreshTimer); tick(); };
  currentRefresh = run;
  run();
}

let selected = -1;
function selectRow(i, keep) {
  const rows = [...document.querySelectorAll("#view tr.row")];
  if (!rows.length) return;
  if (keep && selected >= 0) i = Math.min(selected, rows.length - 1);
  selected = Math.max(0, Math.min(i, rows.length - 1));
  rows.forEach((r, n) => r.classList.toggle("selected", n === selected));
  if (!keep) rows[selected].scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (e) => {
  const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if (e.key === "Escape" && typing) { document.activeElement.blur(); return; }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "/") { e.preventDefault(); document.getElementById("q").focus(); }
  else if (e.key === "j") selectRow(selected + 1);
  else if (e.key === "k") selectRow(selected - 1);
  else if (e.key === "Enter" && selected >= 0) {
    const row = document.querySelectorAll("#view tr.row")[selected];
    if (row) go(row.dataset.href);
  } else if (e.key === "g") go("#/");
  else if (e.key === "?") document.getElementById("keys").toggleAttribute("open");
});

function showLogin(reason) {
  document.getElementById("login-reason").textContent = reason;
  document.getElementById("login").hidden = false;
  document.getElementById("app").hidden = true;
}

function takeTokenFromFragment() {
  const m = /^#token=(.+)$/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    // Out of the address bar and the history.
    history.replaceState(null, "", location.pathname + location.search + "#/");
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
  route();
});
window.addEventListener("hashchange", () => {
  // What an action on the last page did is no news on the next.
  selected = -1;
  fill(document.getElementById("notice"));
  route();
});
takeTokenFromFragment();
route();
