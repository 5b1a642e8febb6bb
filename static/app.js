// BetterPrompt Hub web client: REST for actions, centrifuge-js for everything live.
"use strict";

const API = "/api/v1";
const WS_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/connection/websocket`;
const $ = (id) => document.getElementById(id);

const state = {
  access: localStorage.getItem("bp.access") || "",
  refresh: localStorage.getItem("bp.refresh") || "",
  user: JSON.parse(localStorage.getItem("bp.user") || "null"),
  centrifuge: null,
  roomSub: null,
  runSub: null,
  run: null,
  prompt: null,
  promptsCursor: null,
  unread: 0,
};

function toast(text, isError = false) {
  const el = $("toast");
  el.textContent = text;
  el.className = isError ? "error" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 6000 : 3000);
}

function saveSession(body) {
  if (body) {
    state.access = body.access_token;
    state.refresh = body.refresh_token;
    if (body.user) state.user = body.user;
  } else {
    state.access = state.refresh = "";
    state.user = null;
  }
  localStorage.setItem("bp.access", state.access);
  localStorage.setItem("bp.refresh", state.refresh);
  localStorage.setItem("bp.user", JSON.stringify(state.user));
}

let refreshing = null;
async function refreshTokens() {
  if (!state.refresh) throw new Error("not signed in");
  refreshing = refreshing || (async () => {
    const r = await fetch(`${API}/auth/refresh`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: state.refresh }),
    });
    if (!r.ok) { saveSession(null); renderAccount(); throw new Error("session expired; sign in again"); }
    saveSession(await r.json());
  })().finally(() => { refreshing = null; });
  return refreshing;
}

// fetch + JSON + problem details; retries once after refreshing an expired access token.
async function api(path, { method = "GET", body, headers = {}, retry = true } = {}) {
  const opts = { method, headers: { ...headers } };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
  if (state.access) opts.headers.authorization = `Bearer ${state.access}`;
  const r = await fetch(API + path, opts);
  if (r.status === 401 && retry && state.refresh) {
    await refreshTokens();
    return api(path, { method, body, headers, retry: false });
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || data.title || `HTTP ${r.status}`);
    err.status = r.status; err.problem = data;
    throw err;
  }
  return data;
}

function li(text, cls) {
  const el = document.createElement("li");
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

// ---------------------------------------------------------------- realtime connection
function connectRealtime() {
  if (state.centrifuge) state.centrifuge.disconnect();
  const opts = {};
  if (state.access) {
    opts.token = state.access;
    opts.getToken = async () => { await refreshTokens(); return state.access; };
  }
  const c = new Centrifuge(WS_URL, opts);
  const status = $("status");
  c.on("connecting", () => { status.dataset.state = "connecting"; status.textContent = "connecting…"; });
  c.on("connected", () => { status.dataset.state = "connected"; status.textContent = "live"; });
  c.on("disconnected", (ctx) => {
    status.dataset.state = "disconnected"; status.textContent = "offline";
    if (ctx.code === 3500 && state.user) { saveSession(null); renderAccount(); toast("Signed out.", true); }
  });
  state.centrifuge = c;
  c.connect();
  subscribeLive();
  if (state.user) subscribePersonal();
  if (state.roomSlug) joinRoom(state.roomSlug);
  if (state.run) watchRun(state.run.id);
}

// ---------------------------------------------------------------- account
function renderAccount() {
  const signedIn = !!state.user;
  $("login-form").hidden = signedIn;
  $("register-form").hidden = true;
  $("me").hidden = !signedIn;
  $("chat-text").disabled = $("chat-send").disabled = !signedIn;
  $("chat-text").placeholder = signedIn ? "Say something…" : "Sign in to chat";
  $("run-button").disabled = !signedIn;
  if (signedIn) {
    $("me-handle").textContent = `@${state.user.handle}`;
    loadWallet();
    loadNotifications();
    loadCreator();
  } else {
    $("creator-panel").hidden = true;
  }
}

async function loadWallet() {
  try {
    const w = await api("/me/wallet");
    $("wallet").textContent = `$${(w.balance_cents / 100).toFixed(2)}`;
  } catch (e) { $("wallet").textContent = ""; }
}

const money = (cents) => `$${((cents || 0) / 100).toFixed(2)}`;

function renderEarnings(e) {
  $("earnings").textContent =
    `pending ${money(e.pending_cents)} · available ${money(e.available_cents)} · ` +
    `in transit ${money(e.in_transit_cents)} · lifetime ${money(e.lifetime_cents)}`;
}

function addSale(s, atTop) {
  $("creator-panel").hidden = false;
  if (document.querySelector(`[data-sale="${s.run_id}"]`)) return;
  const el = li(`+${money(s.earning_cents)} (price ${money(s.gross_cents)}, fee ${money(s.fee_cents)})`);
  el.dataset.sale = s.run_id;
  if (atTop) $("sales").prepend(el); else $("sales").append(el);
}

// The creator dashboard: shown once there is something to show (a sale or earnings).
async function loadCreator() {
  try {
    const [e, page] = await Promise.all([api("/creator/earnings"), api("/creator/sales?limit=10")]);
    renderEarnings(e);
    $("sales").replaceChildren();
    page.items.forEach((s) => addSale(s, false));
    $("creator-panel").hidden = !(e.lifetime_cents || page.items.length);
  } catch (err) { $("creator-panel").hidden = true; }
}

async function loadNotifications() {
  try {
    const page = await api("/me/notifications?unread=true&limit=20");
    const list = $("notifications");
    list.replaceChildren(...page.items.map((n) => li(n.text || n.message || n.type, "")));
    state.unread = page.items.length;
    $("notif-count").textContent = state.unread;
  } catch (e) { /* the notifications API may be unavailable; the live channel still works */ }
}

$("show-register").onclick = () => { $("login-form").hidden = true; $("register-form").hidden = false; };
$("show-login").onclick = () => { $("login-form").hidden = false; $("register-form").hidden = true; };
$("login-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    saveSession(await api("/auth/login", { method: "POST", body: { email: $("login-email").value, password: $("login-password").value } }));
    renderAccount(); connectRealtime(); toast(`Welcome back, ${state.user.display_name}!`);
  } catch (e) { toast(e.message, true); }
};
$("register-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    saveSession(await api("/auth/register", { method: "POST", body: {
      email: $("reg-email").value, handle: $("reg-handle").value, password: $("reg-password").value } }));
    renderAccount(); connectRealtime(); toast("Account created. Enjoy your starter credits!");
  } catch (e) { toast(e.message, true); }
};
$("logout").onclick = async () => {
  try { await api("/auth/logout", { method: "POST" }); } catch (e) { /* already signed out */ }
  saveSession(null); renderAccount(); connectRealtime();
};
$("notif-button").onclick = async () => {
  try { await api("/me/notifications/read", { method: "POST", body: { all: true } }); } catch (e) { /* ignore */ }
  state.unread = 0; $("notif-count").textContent = "0";
};

function subscribePersonal() {
  const c = state.centrifuge;
  const notif = c.newSubscription(`notifications#${state.user.id}`);
  notif.on("publication", (ctx) => {
    const d = ctx.data;
    if (d.type === "wallet.updated") { $("wallet").textContent = `$${(d.balance_cents / 100).toFixed(2)}`; return; }
    $("notifications").prepend(li(d.text || d.message || d.type));
    state.unread += 1; $("notif-count").textContent = state.unread;
  });
  notif.subscribe();
  const sales = c.newSubscription(`sales#${state.user.id}`);
  sales.on("publication", (ctx) => {
    const d = ctx.data;
    if (d.type === "sale.created") { addSale(d, true); toast(`New sale: +${money(d.earning_cents)}`); }
    else if (d.type === "earnings.updated") renderEarnings(d);
    else if (d.type.startsWith("payout.")) { toast(`${d.type.replace(".", " ")}: ${money(d.amount_cents)}`); loadCreator(); }
  });
  sales.subscribe();
}

// ---------------------------------------------------------------- chat
async function loadRooms() {
  const page = await api("/rooms?limit=50");
  const select = $("room-select");
  select.replaceChildren(...page.items.map((r) => {
    const o = document.createElement("option"); o.value = r.slug; o.textContent = r.title; return o;
  }));
  select.value = page.items.some((r) => r.slug === "lobby") ? "lobby" : (page.items[0] || {}).slug;
  if (select.value) joinRoom(select.value);
}
$("room-select").onchange = (ev) => joinRoom(ev.target.value);

function addMessage(m, atTop = true) {
  if (document.querySelector(`[data-message-id="${m.id}"]`)) return;
  const el = li(`${m.author && m.author.handle ? "@" + m.author.handle : "someone"}: ${m.text}`);
  el.dataset.messageId = m.id;
  const list = $("messages");
  if (atTop) list.prepend(el); else list.append(el);
}

async function refreshPresence(sub) {
  try {
    const p = await sub.presence();
    const users = new Set(Object.values(p.clients).map((c) => c.user).filter(Boolean));
    $("presence").textContent = `${Object.keys(p.clients).length} here (${users.size} signed in)`;
  } catch (e) { $("presence").textContent = ""; }
}

async function joinRoom(slug) {
  state.roomSlug = slug;
  if (state.roomSub) { state.roomSub.unsubscribe(); state.centrifuge.removeSubscription(state.roomSub); }
  $("messages").replaceChildren();
  const sub = state.centrifuge.newSubscription(`rooms:${slug}`, { joinLeave: true });
  sub.on("publication", (ctx) => {
    if (ctx.data.type === "room.message") addMessage(ctx.data);
    if (ctx.data.type === "room.message_deleted") {
      const el = document.querySelector(`[data-message-id="${ctx.data.id}"]`); if (el) el.remove();
    }
  });
  sub.on("subscribed", () => refreshPresence(sub));
  sub.on("join", () => refreshPresence(sub));
  sub.on("leave", () => refreshPresence(sub));
  sub.on("error", (ctx) => toast(`chat: ${ctx.error.message}`, true));
  state.roomSub = sub;
  sub.subscribe();
  try {
    const page = await api(`/rooms/${encodeURIComponent(slug)}/messages?limit=50`);
    page.items.forEach((m) => addMessage(m, false));
  } catch (e) { toast(e.message, true); }
}

$("chat-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text || !state.roomSub) return;
  try {
    await state.roomSub.publish({ text });
    $("chat-text").value = "";
  } catch (e) { toast(`Not sent: ${e.message}`, true); }
};

// ---------------------------------------------------------------- prompts and runs
async function loadPrompts(append = false) {
  const q = $("search-q").value.trim();
  const params = new URLSearchParams({ sort: $("search-sort").value, limit: "20" });
  if (q) params.set("q", q);
  if (append && state.promptsCursor) params.set("cursor", state.promptsCursor);
  try {
    const page = await api(`/prompts?${params}`);
    const list = $("prompt-list");
    if (!append) list.replaceChildren();
    for (const p of page.items) {
      const el = li(`${p.private_mode ? "[private] " : ""}${p.title} — ${p.price_cents ? "$" + (p.price_cents / 100).toFixed(2) : "free"}`, "clickable");
      el.dataset.promptId = p.id;
      el.onclick = () => openPrompt(p.id);
      list.append(el);
    }
    state.promptsCursor = page.next_cursor;
    $("prompts-more").hidden = !page.next_cursor;
  } catch (e) { toast(e.message, true); }
}
$("search-form").onsubmit = (ev) => { ev.preventDefault(); loadPrompts(); };
$("prompts-more").onclick = () => loadPrompts(true);

async function openPrompt(id) {
  try {
    const p = await api(`/prompts/${id}`);
    state.prompt = p;
    $("prompt-panel").hidden = false;
    $("prompt-title").textContent = p.title;
    const rating = p.rating_count ? `★ ${Number(p.rating_avg).toFixed(1)} (${p.rating_count})` : "no reviews yet";
    $("prompt-meta").textContent = `by @${p.owner ? p.owner.handle : "?"} · ${p.model} · ${rating} · ${p.run_count || 0} runs`;
    $("prompt-description").textContent = p.description || "";
    $("prompt-template").hidden = !p.template;
    $("prompt-template").textContent = p.template || "";
    $("prompt-private").hidden = !p.private_mode;
    const inputs = $("run-inputs");
    inputs.replaceChildren(...(p.variables || []).map((v) => {
      const label = document.createElement("label");
      label.textContent = v;
      const input = document.createElement("input");
      input.name = v; input.required = true;
      input.value = (p.sample_inputs && p.sample_inputs[v]) || "";
      label.append(input);
      return label;
    }));
    updateEstimate();
  } catch (e) { toast(e.message, true); }
}

async function updateEstimate() {
  if (!state.prompt) return;
  try {
    const e = await api(`/prompts/${state.prompt.id}/estimate?max_tokens=${$("run-max-tokens").value}`);
    state.estimate = e;
    $("run-estimate").textContent = `price $${(e.price_cents / 100).toFixed(2)}, up to $${(e.hold_cents / 100).toFixed(2)} held. ${e.cancel_rule}`;
  } catch (err) { state.estimate = null; $("run-estimate").textContent = ""; }
}
$("run-max-tokens").onchange = updateEstimate;

$("run-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const inputs = {};
  for (const input of $("run-inputs").querySelectorAll("input")) inputs[input.name] = input.value;
  try {
    const run = await api(`/prompts/${state.prompt.id}/runs`, {
      method: "POST",
      headers: { "idempotency-key": crypto.randomUUID() },
      // The price the buyer was shown: if the creator changed it since, the hub answers 409.
      body: { inputs, visibility: $("run-public").checked ? "public" : "private", max_tokens: Number($("run-max-tokens").value),
              expected_price_cents: state.estimate ? state.estimate.price_cents : undefined },
    });
    watchRun(run.id);
  } catch (e) {
    if (e.status === 409) updateEstimate();  // price-changed: show the new price before a retry
    toast(e.status === 402 ? `Not enough credits: ${e.message}` : e.message, true);
  }
};

function setRunStatus(status) {
  const badge = $("run-status");
  badge.textContent = status; badge.dataset.status = status;
  $("run-cancel").hidden = !(state.run && state.run.mine && (status === "queued" || status === "running"));
}

async function watchRun(id) {
  if (state.runSub) { state.runSub.unsubscribe(); state.centrifuge.removeSubscription(state.runSub); state.runSub = null; }
  $("run-view").hidden = false;
  $("prompt-panel").hidden = false;
  $("run-result").textContent = "";
  let run;
  try { run = await api(`/runs/${id}`); } catch (e) { toast(e.message, true); return; }
  // Money fields are shown to the buyer only: their presence says "my run" (cancel allowed).
  state.run = { id, mine: run.hold_cents !== null && run.hold_cents !== undefined, lastSeq: 0 };
  const out = $("run-output");
  out.textContent = run.output || "";
  setRunStatus(run.status);
  if (["completed", "failed", "canceled"].includes(run.status)) { showTerminal(run); return; }
  const opts = run.stream && run.stream.epoch ? { since: { offset: run.stream.offset, epoch: run.stream.epoch } } : {};
  const sub = state.centrifuge.newSubscription(`runs:${id}`, opts);
  sub.on("publication", (ctx) => {
    const d = ctx.data;
    if (d.type === "run.started") setRunStatus("running");
    else if (d.type === "run.restarted") { out.textContent = ""; state.run.lastSeq = 0; setRunStatus("running"); }
    else if (d.type === "run.delta") {
      if (d.seq <= state.run.lastSeq) return;  // already in the REST output
      state.run.lastSeq = d.seq; out.textContent += d.text; setRunStatus("running");
    } else if (["run.completed", "run.failed", "run.canceled"].includes(d.type)) {
      setRunStatus(d.type.slice(4)); showTerminal(d); loadWallet();
    }
  });
  sub.on("subscribed", (ctx) => { if (ctx.wasRecovering && !ctx.recovered) watchRun(id); });
  state.runSub = sub;
  sub.subscribe();
}

function showTerminal(d) {
  const usage = d.usage ? ` · ${d.usage.output_tokens || 0} tokens` : "";
  if (d.type === "run.completed" || d.status === "completed") $("run-result").textContent = `Done: charged $${((d.charge_cents || 0) / 100).toFixed(2)}${usage}`;
  else if (d.type === "run.failed" || d.status === "failed") $("run-result").textContent = `Failed: ${(d.error && d.error.message) || "error"} — refunded $${((d.refunded_cents || 0) / 100).toFixed(2)}`;
  else $("run-result").textContent = `Canceled: charged $${((d.charge_cents || 0) / 100).toFixed(2)}`;
  $("run-cancel").hidden = true;
}

$("run-cancel").onclick = async () => {
  try { await api(`/runs/${state.run.id}/cancel`, { method: "POST" }); } catch (e) { toast(e.message, true); }
};

// ---------------------------------------------------------------- live runs index
function subscribeLive() {
  const sub = state.centrifuge.newSubscription("live:runs");
  sub.on("publication", (ctx) => renderLiveEvent(ctx.data));
  sub.subscribe();
  api("/live/runs?limit=20")
    .then((page) => page.items.forEach((r) => renderLiveEvent({ ...r, type: "live.run_started" })))
    .catch(() => {});
}

function renderLiveEvent(d) {
  const id = d.run_id || d.id;
  if (!id) return;
  const existing = document.querySelector(`[data-live-run="${id}"]`);
  const ended = d.type === "live.run_ended";
  if (ended) { if (existing) existing.remove(); return; }
  if (existing) return;
  const el = li(`LIVE ${d.prompt_title || d.title || "a run"}${d.buyer_handle ? " by @" + d.buyer_handle : ""}`, "clickable");
  el.dataset.liveRun = id;
  el.onclick = () => watchRun(id);
  $("live-runs").prepend(el);
}

// ---------------------------------------------------------------- start
window.addEventListener("DOMContentLoaded", () => {
  renderAccount();
  connectRealtime();
  loadRooms().catch((e) => toast(e.message, true));
  loadPrompts();
});
