// BetterPrompt web: htmx does navigation and forms; this file keeps the session, the one
// realtime connection (centrifuge-js) and the live widgets that pages declare with data-*.
"use strict";

(function () {
  const API = "/api/v1";
  const KEY = "bp.session";
  const WS_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/connection/websocket`;

  // ------------------------------------------------------------------ session (tokens)
  // Access + refresh tokens live in localStorage (no cookie carries credentials, so no CSRF);
  // htmx sends the access token as a Bearer header. Refreshing is serialised across tabs with
  // a Web Lock, re-reading storage inside it, because a refresh token is single-use.
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  let session = load();

  function tokenExp(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).exp * 1000;
    } catch (e) { return 0; }
  }

  function save(body, user) {
    if (body) {
      session = {
        access: body.access_token,
        refresh: body.refresh_token,
        exp: tokenExp(body.access_token),
        user: user || body.user || (session && session.user) || null,
      };
      localStorage.setItem(KEY, JSON.stringify(session));
    } else {
      session = null;
      localStorage.removeItem(KEY);
    }
    applySession();
  }

  async function withLock(fn) {
    if (navigator.locks && navigator.locks.request) return navigator.locks.request("bp-refresh", fn);
    return fn();
  }

  let refreshing = null;
  async function freshAccess() {
    if (!session) return "";
    if (session.exp - Date.now() > 30000) return session.access;
    refreshing = refreshing || withLock(async () => {
      const latest = load();  // another tab may have refreshed while we waited
      if (!latest) { save(null); return ""; }
      if (latest.exp - Date.now() > 30000) { session = latest; return latest.access; }
      const r = await fetch(`${API}/auth/refresh`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: latest.refresh }),
      });
      if (!r.ok) { save(null); flash("Your session ended. Please sign in again.", true); return ""; }
      session = latest;
      save(await r.json());
      return session.access;
    }).finally(() => { refreshing = null; });
    return refreshing;
  }

  async function api(path, { method = "GET", body, headers = {} } = {}) {
    const opts = { method, headers: { ...headers } };
    if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
    const token = await freshAccess();
    if (token) opts.headers.authorization = `Bearer ${token}`;
    const r = await fetch(API + path, opts);
    if (r.status === 204) return null;
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(data.detail || data.title || `HTTP ${r.status}`);
      err.status = r.status; err.problem = data; throw err;
    }
    return data;
  }
  window.bp = { api, freshAccess, get session() { return session; } };

  function within(root, selector) {
    const found = [...root.querySelectorAll(selector)];
    return root.matches && root.matches(selector) ? [root, ...found] : found;
  }

  function applySession() {
    const root = document.documentElement;
    root.dataset.auth = session ? "in" : "out";
    const roles = (session && session.user && session.user.roles) || [];
    root.dataset.admin = roles.includes("admin") ? "yes" : "no";
    root.dataset.moderator = roles.includes("admin") || roles.includes("moderator") ? "yes" : "no";
    const me = document.getElementById("me-link");
    if (me && session && session.user) me.textContent = `@${session.user.handle}`;
    applySelf(document);
  }

  // Parts for (or not for) the signed-in person, in the page or in a fragment just loaded.
  function applySelf(root) {
    const me = session && session.user ? session.user.id : null;
    within(root, "[data-not-self]").forEach((el) => { el.hidden = !!(me && el.dataset.notSelf === me); });
    within(root, "[data-self-only]").forEach((el) => { el.hidden = !(me && el.dataset.selfOnly === me); });
  }

  window.addEventListener("storage", (ev) => {
    if (ev.key !== KEY) return;
    const before = session && session.user && session.user.id;
    session = load();
    applySession();
    const after = session && session.user && session.user.id;
    if (before !== after) { connectRealtime(); reloadPersonal(); }
  });

  // ------------------------------------------------------------------ feedback
  function flash(text, isError = false) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.className = isError ? "flash error" : "flash";
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 4000);
  }
  // Screen readers hear one polite announcement per message, never per token.
  function announce(text) {
    const el = document.getElementById("announcer");
    if (!el) return;
    el.textContent = "";
    setTimeout(() => { el.textContent = text; }, 50);
  }
  // A problem+json answer as one sentence a person can act on.
  function problemText(p) {
    if (Array.isArray(p.extra) && p.extra.length) {
      return "Please check: " + p.extra.map((e) => `${e.key || "input"} — ${(e.message || "").replace(/`/g, "")}`).join("; ");
    }
    if (Array.isArray(p.invalid_params) && p.invalid_params.length && p.status >= 500) return p.detail;
    return p.detail || p.title || "That did not work; please try again.";
  }
  window.bp.flash = flash;
  // Navigate (as a boosted link would), then say what happened on the new page.
  // The address bar follows (`push`, or `replace` when the page left is not worth going back to).
  function go(url, message, replace = false) {
    const history = replace ? { replace: url } : { push: url };
    return htmx.ajax("GET", url, { target: "body", ...history }).then(() => { if (message) flash(message); });
  }
  window.bp.announce = announce;

  // ------------------------------------------------------------------ htmx wiring
  document.addEventListener("htmx:confirm", (ev) => {
    // Make sure the access token is fresh before any request carries it.
    if (!session || session.exp - Date.now() > 30000) return;
    ev.preventDefault();
    freshAccess().then(() => ev.detail.issueRequest(true));
  });
  document.addEventListener("htmx:configRequest", (ev) => {
    if (session && session.access) ev.detail.headers.Authorization = `Bearer ${session.access}`;
  });
  document.addEventListener("htmx:beforeSwap", (ev) => {
    const xhr = ev.detail.xhr;
    if (xhr.status === 401) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
      ev.detail.serverResponse = '<div class="notice"><p>Sign in to see this.</p><p><a class="btn btn-primary" href="/signin?next=' +
        encodeURIComponent(location.pathname + location.search) + '">Sign in</a></p></div>';
      if (session) save(null);
    }
  });
  document.addEventListener("htmx:responseError", (ev) => {
    const target = ev.detail.target;
    if (target && target.matches("[data-fragment]")) {
      target.innerHTML = "";
      const box = document.createElement("div");
      box.className = "notice error";
      box.setAttribute("role", "alert");
      box.textContent = "Could not load this part of the page. ";
      const retry = document.createElement("button");
      retry.type = "button"; retry.className = "btn btn-small"; retry.textContent = "Retry";
      retry.addEventListener("click", () => htmx.trigger(target, "bp:retry"));
      box.append(retry);
      target.append(box);
    } else {
      flash("Something went wrong. Please try again.", true);
    }
  });
  document.addEventListener("htmx:sendError", () => flash("You seem to be offline. We will catch up when the network is back.", true));

  // Full-page navigation (boosted): drop the previous page's live subscriptions.
  document.addEventListener("htmx:beforeSwap", (ev) => {
    if (ev.detail.boosted || ev.detail.target === document.body) dropPageSubs();
  });
  document.addEventListener("htmx:afterSettle", (ev) => {
    if (ev.detail.boosted) {
      const main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
  });

  function reloadPersonal() {
    document.querySelectorAll("[data-personal]").forEach((el) => htmx.trigger(el, "bp:retry"));
  }

  // ------------------------------------------------------------------ realtime connection
  let centrifuge = null;
  let userSubs = [];
  let pageSubs = [];
  let everConnected = false;
  let wasDown = false;

  let connNow = ["connecting", "Connecting…"];
  function setConn(state, text) {
    connNow = [state, text];
    const el = document.getElementById("conn");
    if (!el) return;
    el.dataset.state = state;
    el.querySelector(".conn-text").textContent = text;
  }

  function connectRealtime() {
    if (centrifuge) { centrifuge.disconnect(); centrifuge.removeAllListeners && centrifuge.removeAllListeners(); }
    userSubs = []; pageSubs = [];
    document.querySelectorAll("[data-live-bound]").forEach((e) => { delete e.dataset.liveBound; });
    const opts = { minReconnectDelay: 300, maxReconnectDelay: 5000 };
    if (session) opts.getToken = () => freshAccess();
    const c = new Centrifuge(WS_URL, opts);
    c.on("connecting", () => {
      if (everConnected) {
        wasDown = true;
        if (navigator.onLine === false) setConn("offline", "Offline — will reconnect");
        else setConn("reconnecting", "Reconnecting…");
      }
      else setConn("connecting", "Connecting…");
    });
    c.on("connected", () => {
      everConnected = true;
      if (wasDown) {
        wasDown = false;
        setConn("recovered", "Reconnected");
        announce("Connection restored.");
        setTimeout(() => { if (connNow[0] === "recovered") setConn("live", "Live"); }, 4000);
      } else setConn("live", "Live");
    });
    c.on("disconnected", () => setConn("offline", "Offline"));
    centrifuge = c;
    if (session && session.user) subscribeUser(session.user.id);
    c.connect();
    scanLive(document.body);
  }
  window.addEventListener("offline", () => { if (everConnected) { wasDown = true; setConn("offline", "Offline — will reconnect"); } });
  window.addEventListener("online", () => { if (connNow[0] === "offline") setConn("reconnecting", "Reconnecting…"); });

  function sub(channel, opts, into) {
    const existing = centrifuge.getSubscription(channel);
    if (existing) { existing.unsubscribe(); centrifuge.removeSubscription(existing); }
    const s = centrifuge.newSubscription(channel, opts || {});
    into.push(s);
    return s;
  }

  function dropPageSubs() {
    for (const s of pageSubs) { try { s.unsubscribe(); centrifuge.removeSubscription(s); } catch (e) { /* gone */ } }
    pageSubs = [];
  }

  function setUnread(n) {
    const badge = document.getElementById("unread");
    const bell = document.getElementById("bell");
    if (!badge) return;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = !n;
    bell.setAttribute("aria-label", `Notifications, ${n} unread`);
  }

  function setWallet(cents) {
    const chip = document.getElementById("wallet-chip");
    if (chip) { chip.textContent = `$${(cents / 100).toFixed(2)}`; chip.setAttribute("aria-label", `Wallet balance $${(cents / 100).toFixed(2)}`); }
  }

  function subscribeUser(userId) {
    const n = sub(`notifications#${userId}`, {}, userSubs);
    n.on("publication", (ctx) => {
      const d = ctx.data;
      if (d.type === "wallet.updated") { setWallet(d.balance_cents); document.body.dispatchEvent(new CustomEvent("bp:wallet")); return; }
      if (d.type === "room.unread" || d.type === "room.read") { document.body.dispatchEvent(new CustomEvent("bp:rooms")); return; }
      if (d.type === "notification_settings.updated") { document.body.dispatchEvent(new CustomEvent("bp:notification-settings")); return; }
      if ((d.type === "notification.created" || d.type === "notifications.read") && typeof d.unread_count === "number") setUnread(d.unread_count);
      if (d.type === "notification.created" && d.notification) {
        announce(`New notification: ${d.notification.text || d.notification.type}`);
      }
      document.body.dispatchEvent(new CustomEvent("bp:notifications"));
    });
    n.on("subscribed", () => refreshChrome());
    n.subscribe();
    const f = sub(`feed#${userId}`, {}, userSubs);
    f.on("publication", () => document.body.dispatchEvent(new CustomEvent("bp:feed")));
    f.subscribe();
  }

  async function refreshChrome() {
    if (!session) return;
    try {
      const [w, n] = await Promise.all([api("/me/wallet"), api("/me/notifications?unread=true&limit=1")]);
      setWallet(w.balance_cents);
      setUnread(n.unread_count);
    } catch (e) { /* shown again on the next event */ }
  }

  // ------------------------------------------------------------------ live widgets
  function userChannel(name) {
    if (!name.includes("{user}")) return name;
    return session && session.user ? name.replace("{user}", session.user.id) : null;
  }

  function scanLive(root) {
    if (!centrifuge || !root) return;
    within(root, "[data-live-channel]").forEach(bindChannel);
    within(root, "[data-run-stream]").forEach(bindRun);
    within(root, "[data-chat-room]").forEach(bindChat);
    within(root, "time[datetime]").forEach(localTime);
    within(root, "form[data-topup]").forEach(bindTopup);
    within(root, "[data-mod-queue]").forEach(bindQueue);
    within(root, "form[data-reset-form]").forEach(bindReset);
  }

  // Any element: data-live-channel="sales#{user}" data-live-event="bp:sale" refreshes the
  // htmx fragments listening for that event (debounced), so the server renders the change.
  function bindChannel(el) {
    if (el.dataset.liveBound) return;
    const channel = userChannel(el.dataset.liveChannel);
    if (!channel) return;
    el.dataset.liveBound = "1";
    const s = sub(channel, {}, pageSubs);
    let timer = null;
    s.on("publication", (ctx) => {
      if (el.dataset.liveAnnounce && ctx.data && ctx.data.type === el.dataset.liveAnnounce) announce(el.dataset.liveAnnounceText || "Updated.");
      clearTimeout(timer);
      timer = setTimeout(() => htmx.trigger(el, el.dataset.liveEvent || "bp:live", { data: ctx.data }), 120);
    });
    s.on("subscribed", (ctx) => { if (ctx.wasRecovering && !ctx.recovered) htmx.trigger(el, el.dataset.liveEvent || "bp:live"); });
    s.subscribe();
  }

  // A run's output: server-rendered text up to data-offset, then the channel since there.
  function bindRun(el) {
    if (el.dataset.liveBound) return;
    el.dataset.liveBound = "1";
    const id = el.dataset.runId;
    const out = el.querySelector("[data-run-output]");
    const status = el.querySelector("[data-run-status]");
    const terminal = ["completed", "failed", "canceled"];
    let seq = Number(el.dataset.seq || 0);
    let state = el.dataset.status;
    const setStatus = (s, text) => {
      state = s; el.dataset.status = s;
      if (status) { status.textContent = text || s; status.dataset.status = s; }
    };
    if (terminal.includes(state)) return;
    const opts = {};
    if (el.dataset.epoch) opts.since = { offset: Number(el.dataset.offset), epoch: el.dataset.epoch };
    const s = sub(`runs:${id}`, opts, pageSubs);
    s.on("publication", (ctx) => {
      const d = ctx.data;
      if (d.type === "run.started") setStatus("running", "Running");
      else if (d.type === "run.restarted") { out.textContent = ""; seq = 0; setStatus("running", "Restarted"); }
      else if (d.type === "run.delta") {
        if (d.seq <= seq) return;  // already in the rendered text
        seq = d.seq;
        if (state !== "running") setStatus("running", "Running");
        out.textContent += d.text;
        out.dataset.tokens = String(seq);
      } else if (terminal.includes(d.type.slice(4))) {
        const st = d.type.slice(4);
        setStatus(st, st === "completed" ? "Completed" : st === "failed" ? "Failed" : "Cancelled");
        const label = document.querySelector("[data-live-label]");
        if (label) label.textContent = "Public run";
        announce(st === "completed" ? "The run has finished." : st === "failed" ? "The run failed and was refunded." : "The run was cancelled.");
        htmx.trigger(el, "bp:run-ended");
        refreshChrome();
      }
    });
    s.on("subscribed", async (ctx) => {
      if (ctx.wasRecovering && !ctx.recovered) {
        // The history window no longer covers us: reload the text from the server.
        try {
          const run = await api(`/runs/${id}`);
          out.textContent = run.output; seq = 0;
          flash("Reloaded the run after a long disconnect.");
        } catch (e) { /* keep what we have */ }
      }
    });
    s.subscribe();
  }

  function localTime(t) {
    if (t.dataset.local) return;
    t.dataset.local = "1";
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) return;
    const opts = t.dataset.format === "time" ? { hour: "2-digit", minute: "2-digit" }
      : { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    t.textContent = d.toLocaleString(undefined, opts);
    t.title = d.toISOString();
  }

  // ------------------------------------------------------------------ chat
  // Message text as text nodes, with each @handle a link (never HTML from the message).
  function setText(el, text) {
    el.replaceChildren();
    const re = /(^|[^\w@])@([A-Za-z0-9_]{3,30})\b/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      const at = m.index + m[1].length;
      el.append(document.createTextNode(text.slice(last, at)));
      const a = document.createElement("a");
      a.className = "mention"; a.href = `/creators/${m[2]}`; a.textContent = `@${m[2]}`;
      el.append(a);
      last = at + 1 + m[2].length;
    }
    el.append(document.createTextNode(text.slice(last)));
  }
  function bindChat(el) {
    if (el.dataset.liveBound) return;
    el.dataset.liveBound = "1";
    const slug = el.dataset.chatRoom;
    const list = el.querySelector("[data-messages]");
    const people = el.querySelector("[data-people]");
    const form = el.querySelector("form[data-chat-form]");
    const tpl = el.querySelector("template[data-message-template]");
    const me = session && session.user ? session.user.id : null;
    // The messages fragment (loaded with the token) says whether I moderate this room.
    const canModerate = () => !!list.querySelector('[data-room-role="moderator"]');
    const applyRights = (node) => {
      const mine = !!(me && node.dataset.authorId === me);
      node.querySelectorAll("[data-own]").forEach((b) => { b.hidden = !mine; });
      node.querySelectorAll("[data-mod]").forEach((b) => { b.hidden = !(mine || canModerate()); });
      node.querySelectorAll("[data-ban]").forEach((b) => { b.hidden = mine || !canModerate() || !node.dataset.authorId; });
      node.querySelectorAll("[data-report]").forEach((b) => { b.hidden = !me || mine || !node.dataset.authorId; });
    };
    const s = sub(`rooms:${slug}`, { joinLeave: true }, pageSubs);

    const render = (m) => {
      if (list.querySelector(`[data-message-id="${m.id}"]`)) return null;
      const node = tpl.content.firstElementChild.cloneNode(true);
      node.dataset.messageId = m.id;
      const author = node.querySelector("[data-author]");
      author.textContent = m.author && m.author.handle ? (m.author.display_name || m.author.handle) : "deleted user";
      if (m.author && m.author.handle) { author.href = `/creators/${m.author.handle}`; node.querySelector("[data-handle]").textContent = `@${m.author.handle}`; }
      setText(node.querySelector("[data-text]"), m.text);
      const t = node.querySelector("time");
      t.setAttribute("datetime", m.created_at); t.dataset.format = "time"; localTime(t);
      node.dataset.authorId = (m.author && m.author.id) || "";
      const report = node.querySelector("[data-report]");
      if (report) { report.dataset.reportId = m.id; report.dataset.reportLabel = `A message by @${(m.author && m.author.handle) || "a deleted user"}: “${m.text.slice(0, 80)}”`; }
      applyRights(node);
      if (m.edited_at) node.querySelector("[data-edited]").hidden = false;
      return node;
    };
    const add = (m, top) => {
      const node = render(m);
      if (!node) return;
      const empty = list.querySelector("[data-empty]");
      if (empty) empty.remove();
      if (top) list.prepend(node); else list.append(node);
      list.scrollTop = list.scrollHeight;
    };
    // History arrives by htmx (after this binding): give its messages their buttons.
    list.addEventListener("htmx:afterSwap", () => {
      list.querySelectorAll("[data-message-id]").forEach(applyRights);
      list.querySelectorAll("time[datetime]").forEach(localTime);
      list.scrollTop = list.scrollHeight;
    });
    list.querySelectorAll("[data-message-id]").forEach(applyRights);

    s.on("publication", (ctx) => {
      const d = ctx.data;
      if (d.type === "room.message") {
        add(d, false);
        if (d.author) { const t = typers.get(d.author.id); if (t) { clearTimeout(t.timer); typers.delete(d.author.id); showTyping(); } }
        if (!(me && d.author && d.author.id === me)) { announce(`${d.author ? d.author.handle : "Someone"}: ${d.text}`); markRead(); }
      }
      else if (d.type === "room.message_deleted") { const n = list.querySelector(`[data-message-id="${d.id}"]`); if (n) n.remove(); }
      else if (d.type === "room.message_edited") {
        const n = list.querySelector(`[data-message-id="${d.id}"]`);
        if (n) { setText(n.querySelector("[data-text]"), d.text); n.querySelector("[data-edited]").hidden = false; }
      }
    });
    const refreshPeople = async () => {
      if (!people) return;
      try {
        const p = await s.presence();
        const ids = [...new Set(Object.values(p.clients).map((c) => c.user).filter(Boolean))];
        const anon = Object.values(p.clients).filter((c) => !c.user).length;
        const total = Object.keys(p.clients).length;
        document.querySelectorAll("[data-spectators]").forEach((el) => {
          el.textContent = `${total} ${total === 1 ? "person" : "people"} here now`;
          el.hidden = false;
        });
        htmx.ajax("GET", `/web/people?room=${encodeURIComponent(slug)}&anon=${anon}` + ids.map((i) => `&id=${encodeURIComponent(i)}`).join(""), { target: people, swap: "innerHTML" });
      } catch (e) { /* presence is best-effort */ }
    };
    let peopleTimer = null;
    const soon = () => { clearTimeout(peopleTimer); peopleTimer = setTimeout(refreshPeople, 150); };
    s.on("subscribed", (ctx) => {
      soon();
      if (ctx.wasRecovering && !ctx.recovered) htmx.trigger(el, "bp:retry");
    });
    // Reading: the room's "last read" marker follows what this visible tab has shown.
    let readTimer = null;
    const markRead = () => {
      if (!session || document.hidden) return;
      clearTimeout(readTimer);
      readTimer = setTimeout(() => {
        if (!document.contains(el)) return;
        api(`/rooms/${encodeURIComponent(slug)}/read`, { method: "POST", body: {} }).catch(() => {});
      }, 400);
    };
    list.addEventListener("htmx:afterSwap", markRead);
    document.addEventListener("visibilitychange", () => { if (!document.hidden && document.contains(el)) markRead(); });
    // Typing: others see "… is typing" for a few seconds; we say so at most every 3 s.
    const typingBox = el.querySelector("[data-typing]");
    const typers = new Map();
    const showTyping = () => {
      const names = [...typers.values()].map((t) => t.name);
      typingBox.textContent = !names.length ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
    };
    let typingSub = null;
    try {
      typingSub = sub(`typing:${slug}`, {}, pageSubs);
      typingSub.on("publication", (ctx) => {
        const d = ctx.data;
        if (!d || !d.user || (me && d.user.id === me)) return;
        const old = typers.get(d.user.id);
        if (old) clearTimeout(old.timer);
        if (d.typing) {
          const timer = setTimeout(() => { typers.delete(d.user.id); showTyping(); }, (d.expires_in || 5) * 1000);
          typers.set(d.user.id, { name: d.user.display_name || d.user.handle, timer });
        } else typers.delete(d.user.id);
        showTyping();
      });
      typingSub.subscribe();
    } catch (e) { typingSub = null; }
    let lastTyping = 0;
    const sayTyping = (typing) => {
      if (!typingSub || !session) return;
      const now = Date.now();
      if (typing && now - lastTyping < 3000) return;
      lastTyping = typing ? now : 0;
      typingSub.publish({ typing }).catch(() => {});
    };
    s.on("join", soon);
    s.on("leave", soon);
    document.body.addEventListener("bp:people", () => { if (document.contains(el)) soon(); });
    s.subscribe();

    if (form) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const input = form.querySelector("textarea, input[name=text]");
        const text = input.value.trim();
        if (!text) return;
        if (!session) { flash("Sign in to chat.", true); return; }
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          await s.publish({ text });
          input.value = "";
          sayTyping(false);
        } catch (e) {
          const msg = e.code === 103 ? "You cannot post in this room (banned or not a member)." : e.code === 111 ? "Slow down a little." : (e.message || "Not sent.");
          flash(msg, true);
        } finally { button.disabled = false; input.focus(); }
      });
      const input = form.querySelector("textarea");
      if (input) input.addEventListener("input", () => { if (input.value.trim()) sayTyping(true); });
      if (input) input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
      });
    }
    list.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button[data-action]");
      if (!button) return;
      const node = button.closest("[data-message-id]");
      const id = node.dataset.messageId;
      try {
        if (button.dataset.action === "delete") {
          if (!confirm("Delete this message?")) return;
          await api(`/rooms/${encodeURIComponent(slug)}/messages/${id}`, { method: "DELETE" });
          node.remove();
        } else if (button.dataset.action === "edit") {
          const current = node.querySelector("[data-text]").textContent;
          const text = prompt("Edit your message", current);
          if (text === null || text.trim() === "" || text === current) return;
          await api(`/rooms/${encodeURIComponent(slug)}/messages/${id}`, { method: "PATCH", body: { text } });
        } else if (button.dataset.action === "ban") {
          const handle = node.querySelector("[data-handle]").textContent.replace(/^@/, "");
          const minutes = prompt(`Ban @${handle} from this room for how many minutes?`, "60");
          if (!minutes) return;
          await api(`/rooms/${encodeURIComponent(slug)}/bans`, { method: "POST", body: { handle, minutes: Number(minutes) } });
          flash(`@${handle} is banned for ${minutes} minutes.`);
        }
      } catch (e) { flash(e.message, true); }
    });
  }

  // ------------------------------------------------------------------ wallet top-up (Stripe.js)
  // Card details go from Stripe's own fields to Stripe; the hub only creates the
  // PaymentIntent and credits the wallet when Stripe's signed webhook says it succeeded, which
  // reaches this page as wallet.updated.
  function loadStripe(src) {
    if (window.Stripe) return Promise.resolve(window.Stripe);
    loadStripe.p = loadStripe.p || new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = src; tag.onload = () => resolve(window.Stripe); tag.onerror = reject;
      document.head.append(tag);
    });
    return loadStripe.p;
  }

  async function bindTopup(form) {
    if (form.dataset.liveBound) return;
    form.dataset.liveBound = "1";
    const status = form.querySelector("[data-topup-status]");
    let stripe, card;
    try {
      const StripeJs = await loadStripe(form.dataset.stripeJs);
      stripe = StripeJs(form.dataset.stripeKey);
      card = stripe.elements().create("card");
      card.mount(form.querySelector("[data-card-element]"));
    } catch (e) {
      status.textContent = "Card payments are unavailable right now (Stripe did not load).";
      return;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const amount = Number(new FormData(form).get("amount_cents"));
      button.disabled = true;
      status.textContent = "Starting the payment…";
      try {
        const intent = await api("/me/wallet/topups", {
          method: "POST", body: { amount_cents: amount }, headers: { "idempotency-key": form.dataset.key },
        });
        form.dataset.pending = intent.payment_intent_id;
        status.textContent = `Confirming $${(amount / 100).toFixed(2)} with Stripe…`;
        const result = await stripe.confirmCardPayment(intent.client_secret, { payment_method: { card } });
        if (result && result.error) {
          status.textContent = `Stripe: ${result.error.message || "the payment did not go through"}. Nothing was charged.`;
          delete form.dataset.pending;
        } else {
          status.textContent = "Paid. Your credits arrive as soon as Stripe confirms.";
        }
      } catch (e) {
        status.textContent = e.message;
        delete form.dataset.pending;
      } finally { button.disabled = false; }
    });
    document.body.addEventListener("bp:wallet", () => {
      if (!form.dataset.pending) return;
      delete form.dataset.pending;
      form.dataset.key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
      status.textContent = "Credited. Thank you!";
      announce("Your wallet was credited.");
    });
  }

  // ------------------------------------------------------------------ sign in / up / out
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.matches("form[data-auth-form]")) return;
    ev.preventDefault();
    const kind = form.dataset.authForm;
    const data = Object.fromEntries(new FormData(form).entries());
    const error = form.querySelector("[data-form-error]");
    error.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const body = kind === "signup"
        ? { email: data.email, password: data.password, handle: data.handle, ...(data.display_name ? { display_name: data.display_name } : {}) }
        : { email: data.email, password: data.password };
      const r = await fetch(`${API}/auth/${kind === "signup" ? "register" : "login"}`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      const out = await r.json().catch(() => ({}));
      if (!r.ok) {
        error.textContent = problemText(out);
        error.hidden = false; error.focus();
        return;
      }
      save(out, out.user);
      connectRealtime();
      const next = new URLSearchParams(location.search).get("next");
      go(next && next.startsWith("/") && !next.startsWith("//") ? next : "/",
        kind === "signup" ? `Welcome, @${out.user.handle}! Confirm your email with the link we sent to get your starter credits.` : `Welcome back, @${out.user.handle}.`);
    } catch (e) {
      error.textContent = "Network error; please try again."; error.hidden = false;
    } finally { button.disabled = false; }
  });

  document.addEventListener("click", async (ev) => {
    const out = ev.target.closest("[data-signout]");
    if (!out) return;
    ev.preventDefault();
    try { await api("/auth/logout", { method: "POST", body: { everywhere: out.dataset.signout === "everywhere" } }); } catch (e) { /* signed out anyway */ }
    save(null);
    connectRealtime();
    go("/", "Signed out.");
  });

  // ------------------------------------------------------------------ account actions
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.matches("form[data-password-form]")) {
      ev.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      const error = form.querySelector("[data-form-error]");
      error.hidden = true;
      try {
        const pair = await api("/me/password", { method: "POST", body: data });
        save(pair);
        connectRealtime();
        form.reset();
        flash("Password changed. Your other devices were signed out.");
      } catch (e) {
        error.textContent = e.problem ? problemText(e.problem) : e.message;
        error.hidden = false; error.focus();
      }
    } else if (form.matches("form[data-delete-account]")) {
      ev.preventDefault();
      const input = form.querySelector("input[name=confirm]");
      if (input.value.trim() !== input.dataset.expect) { flash("Type your handle exactly to confirm.", true); input.focus(); return; }
      try {
        await api("/me", { method: "DELETE" });
        save(null);
        connectRealtime();
        go("/", "Your account was deleted.");
      } catch (e) { flash(e.message, true); }
    }
  });

  // Opening a notification reads it (on every tab, through notifications.read).
  document.addEventListener("click", (ev) => {
    const link = ev.target.closest(".notification.unread a[href]");
    if (!link) return;
    const id = link.closest("[data-notification-id]").dataset.notificationId;
    api("/me/notifications/read", { method: "POST", body: { ids: [id] } }).catch(() => {});
  });

  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-export]");
    if (!button) return;
    try {
      const data = await api("/me/export");
      const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
      const a = document.createElement("a");
      a.href = url; a.download = "betterprompt-export.json";
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { flash(e.message, true); }
  });

  // ------------------------------------------------------------------ reports and the queue
  // One dialog for every "Report" button (messages, prompts, reviews, profiles): a reason,
  // then the API's answer in the dialog; focus goes back to the button when it closes.
  let reportOpener = null;
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-report]");
    if (!button) return;
    ev.preventDefault();
    if (!session) { flash("Sign in to report something.", true); return; }
    const dialog = document.getElementById("report-dialog");
    if (!dialog) return;
    reportOpener = button;
    dialog.dataset.type = button.dataset.report;
    dialog.dataset.id = button.dataset.reportId;
    dialog.querySelector("[data-report-what]").textContent = button.dataset.reportLabel || "";
    const form = dialog.querySelector("form");
    form.reset();
    form.querySelector("[data-report-error]").hidden = true;
    form.querySelector("[data-report-done]").hidden = true;
    form.querySelector("[data-report-fields]").hidden = false;
    form.querySelector("[data-report-send]").hidden = false;
    form.querySelector("[data-report-close]").textContent = "Cancel";
    dialog.showModal();
    form.elements.reason.focus();
  });
  document.addEventListener("close", (ev) => {
    if (ev.target.id === "report-dialog" && reportOpener && document.contains(reportOpener)) reportOpener.focus();
  }, true);
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-report-close]")) document.getElementById("report-dialog").close();
  });
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.matches("form[data-report-form]")) return;
    ev.preventDefault();
    const dialog = form.closest("dialog");
    const error = form.querySelector("[data-report-error]");
    const done = form.querySelector("[data-report-done]");
    const send = form.querySelector("[data-report-send]");
    error.hidden = true;
    const reason = form.elements.reason.value.trim();
    if (!reason) { error.textContent = "Say what is wrong, in a few words."; error.hidden = false; form.elements.reason.focus(); return; }
    send.disabled = true;
    try {
      const r = await fetch(`${API}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await freshAccess()}` },
        body: JSON.stringify({ subject_type: dialog.dataset.type, subject_id: dialog.dataset.id, reason }),
      });
      const out = await r.json().catch(() => ({}));
      if (!r.ok) { error.textContent = problemText(out); error.hidden = false; error.focus(); return; }
      done.textContent = r.status === 201
        ? "Thank you. Moderators will look at it; you will be told what came of it."
        : "You already reported this. It is in the moderators' queue; you will be told what came of it.";
      form.querySelector("[data-report-fields]").hidden = true;
      send.hidden = true;
      done.hidden = false;
      const close = form.querySelector("[data-report-close]");
      close.textContent = "Close";
      close.focus();
    } catch (e) {
      error.textContent = "Network error; please try again."; error.hidden = false;
    } finally { send.disabled = false; }
  });

  // The moderation queue is not re-rendered under a moderator's hands: a change (a new report,
  // another report of an item, another moderator's decision) shows a notice with "Refresh".
  // The page listens first and loads the queue once subscribed, so no report falls between
  // the two (anyone else is refused the channel and gets the fragment's answer).
  function bindQueue(el) {
    if (el.dataset.liveBound) return;
    el.dataset.liveBound = "1";
    const news = el.querySelector("[data-queue-news]");
    const list = el.querySelector("[data-fragment]");
    let loaded = false;
    const load = () => { if (!loaded) { loaded = true; htmx.trigger(list, "bp:queue-ready"); } };
    const s = sub("moderation:reports", {}, pageSubs);
    s.on("subscribed", () => { el.dataset.liveReady = "1"; load(); });
    s.on("error", load);
    s.on("unsubscribed", load);
    setTimeout(load, 4000);  // realtime unreachable: show the queue anyway
    s.on("publication", (ctx) => {
      const d = ctx.data || {};
      const shown = d.case && list.querySelector(`[data-case="${d.case.id}"]`);
      if (shown) {  // already on screen as it stands (loaded after the event, or our decision)
        if (d.type === "report.opened") return;
        if (d.type === "report.updated" && Number(shown.dataset.count) >= d.case.report_count) return;
        if (d.type === "report.resolved" && (shown.dataset.status === "resolved" || shown.querySelector(".htmx-request"))) return;
      }
      const text = d.type === "report.opened" ? "A new report arrived."
        : d.type === "report.updated" ? "Someone else reported an item in the queue."
        : "Another moderator resolved a report.";
      news.querySelector("[data-queue-news-text]").textContent = text;
      news.hidden = false;
      if (d.type === "report.opened") announce(text);
    });
    s.subscribe();
    news.querySelector("[data-queue-refresh]").addEventListener("click", () => {
      news.hidden = true;
      htmx.trigger(list, "bp:retry");
    });
  }

  // ------------------------------------------------------------------ links from our mail
  // Mailed links carry their single-use token in the fragment, which no server ever sees or logs.
  async function followMailedLink() {
    const match = /^#(verify-email|reset-password)=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (!match) return;
    history.replaceState(null, "", location.pathname + location.search);
    const [, kind, token] = match;
    try {
      if (kind === "verify-email") {
        await api("/auth/verify-email", { method: "POST", body: { token } });
        flash("Email confirmed: your starter credits are in your wallet.");
        refreshChrome();
      } else {
        // The form page asks for the new password; the token waits in this tab only.
        sessionStorage.setItem(RESET_KEY, token);
        if (location.pathname !== "/reset-password") go("/reset-password", null, true);
        else document.querySelectorAll("form[data-reset-form]").forEach(bindReset);
      }
    } catch (e) { flash(e.message, true); }
  }

  // The new-password form: the rules beside the field, each problem under its field (the
  // API's own words), and the whole answer in one place a screen reader is moved to.
  const RESET_KEY = "bp.reset-token";
  function bindReset(form) {
    const box = form.closest("[data-reset-page]");
    const missing = box.querySelector("[data-reset-missing]");
    const done = box.querySelector("[data-reset-done]");
    const hasToken = !!sessionStorage.getItem(RESET_KEY);
    missing.hidden = hasToken || !done.hidden;
    form.hidden = !hasToken;
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    const fieldError = (name, text) => {
      const input = form.elements[name];
      const el = form.querySelector(`[data-field-error="${name}"]`);
      el.textContent = text || "";
      el.hidden = !text;
      if (text) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    };
    const formError = form.querySelector("[data-form-error]");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const password = form.elements.password.value;
      const confirmed = form.elements.confirm.value;
      fieldError("password", ""); fieldError("confirm", ""); formError.hidden = true;
      if (password.length < 8 || password.length > 128) {
        fieldError("password", "Use 8 to 128 characters.");
        form.elements.password.focus();
        return;
      }
      if (confirmed !== password) {
        fieldError("confirm", "The two passwords are not the same.");
        form.elements.confirm.focus();
        return;
      }
      const token = sessionStorage.getItem(RESET_KEY);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const r = await fetch(`${API}/auth/password-reset/confirm`, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ token, password }),
        });
        if (!r.ok) {
          const p = await r.json().catch(() => ({}));
          const fields = (p.invalid_params || []).map((i) => i.name).concat((p.extra || []).map((e) => e.key));
          if (fields.includes("password")) { fieldError("password", problemText(p)); form.elements.password.focus(); return; }
          if (r.status === 400 && String(p.type || "").endsWith("/invalid-token")) {
            sessionStorage.removeItem(RESET_KEY);
            formError.textContent = "This link was already used or has expired. Ask for a new one from the sign-in page.";
          } else formError.textContent = problemText(p);
          formError.hidden = false; formError.focus();
          return;
        }
        sessionStorage.removeItem(RESET_KEY);
        save(null);
        connectRealtime();
        form.hidden = true; missing.hidden = true; done.hidden = false;
        done.focus();
      } catch (e) {
        formError.textContent = "Network error; please try again."; formError.hidden = false;
      } finally { button.disabled = false; }
    });
  }

  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-resend-verification]");
    if (!button) return;
    try {
      const out = await api("/auth/verify-email/resend", { method: "POST" });
      flash(out.detail);
    } catch (e) { flash(e.message, true); }
  });

  document.addEventListener("click", async (ev) => {
    const link = ev.target.closest("[data-forgot-password]");
    if (!link) return;
    ev.preventDefault();
    const email = (document.getElementById("a-email") || {}).value || window.prompt("Your account's email");
    if (!email) return;
    try {
      const out = await api("/auth/password-reset", { method: "POST", body: { email } });
      flash(out.detail);
    } catch (e) { flash(e.message, true); }
  });

  // ------------------------------------------------------------------ start
  applySession();
  document.addEventListener("DOMContentLoaded", () => {
    applySession();
    followMailedLink();
    htmx.onLoad((el) => {
      if (el === document.body || el.contains(document.getElementById("me-link"))) { applySession(); setConn(...connNow); refreshChrome(); }
      applySelf(el);
      scanLive(el);
    });
    connectRealtime();
  });
})();
