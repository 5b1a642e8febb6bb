// BetterPrompt web, marketplace depth: sign in with a provider (GitHub, Google), linking by
// mailed link, receipts. app.js keeps the session; this file writes the same session record
// (localStorage "bp.session") and then loads a page, so app.js picks it up as after a sign-in.
"use strict";

(function () {
  const API = "/api/v1";
  const KEY = "bp.session";
  const FLOW = "bp.oauth.";

  function tokenExp(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).exp * 1000;
    } catch (e) { return 0; }
  }

  function storeSession(body) {
    localStorage.setItem(KEY, JSON.stringify({
      access: body.access_token, refresh: body.refresh_token,
      exp: tokenExp(body.access_token), user: body.user,
    }));
  }

  function say(text, error) {
    if (window.bp && window.bp.flash) window.bp.flash(text, error);
    else window.alert(text);
  }

  async function call(path, body, token) {
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(API + path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    return { status: r.status, ok: r.ok, data };
  }

  // ------------------------------------------------------------------ start (sign-in page, account)
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-oauth-start]");
    if (!button) return;
    ev.preventDefault();
    const provider = button.dataset.oauthStart;
    const link = button.dataset.link === "1";
    button.disabled = true;
    try {
      const token = link && window.bp ? await window.bp.freshAccess() : "";
      const out = await call(`/auth/oauth/${provider}/start`, { link }, token);
      if (!out.ok) { say(out.data.detail || "Could not start signing in.", true); return; }
      const params = new URLSearchParams(location.search);
      const next = link ? "/account" : params.get("next");
      // The flow secret stays in this tab: the callback must come back to the browser that started.
      sessionStorage.setItem(FLOW + out.data.state, JSON.stringify({
        secret: out.data.flow_secret,
        next: next && next.startsWith("/") && !next.startsWith("//") ? next : "/",
      }));
      location.assign(out.data.authorization_url);
    } catch (e) {
      say("Network error; please try again.", true);
    } finally { button.disabled = false; }
  });

  // ------------------------------------------------------------------ the provider sent us back
  async function finishCallback(box) {
    const status = box.querySelector("[data-oauth-status]");
    const error = box.querySelector("[data-oauth-error]");
    const fail = (text) => { status.textContent = ""; error.textContent = text; error.hidden = false; };
    const params = new URLSearchParams(location.search);
    const state = params.get("state") || "";
    const code = params.get("code") || "";
    history.replaceState(null, "", location.pathname);  // the code is single use: drop it from the URL
    if (params.get("error")) { fail("The sign-in was cancelled or refused by the provider."); return; }
    const saved = JSON.parse(sessionStorage.getItem(FLOW + state) || "null");
    sessionStorage.removeItem(FLOW + state);
    if (!code || !saved) { fail("This sign-in was not started in this browser tab, or it expired. Start again."); return; }
    const out = await call(`/auth/oauth/${box.dataset.oauthCallback}/callback`,
      { code, state, flow_secret: saved.secret });
    if (out.status === 202) { status.textContent = out.data.detail; return; }
    if (!out.ok) { fail(out.data.detail || "The sign-in did not complete. Start again."); return; }
    storeSession(out.data);
    status.textContent = "Signed in. Taking you back…";
    location.replace(saved.next || "/");
  }

  // ------------------------------------------------------------------ link confirmed by mail
  async function followLinkMail() {
    const match = /^#link-identity=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (!match) return;
    history.replaceState(null, "", location.pathname + location.search);
    const out = await call("/auth/oauth/link/confirm", { token: match[1] });
    if (!out.ok) { say(out.data.detail || "This link did not work.", true); return; }
    storeSession(out.data);
    location.replace("/account");
  }

  // ------------------------------------------------------------------ unlink (account page)
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-oauth-unlink]");
    if (!button) return;
    try {
      await window.bp.api(`/me/identities/${button.dataset.oauthUnlink}`, { method: "DELETE" });
      say("Unlinked.");
      const box = document.querySelector("#identities [data-personal]");
      if (box && window.htmx) window.htmx.trigger(box, "bp:retry");
    } catch (e) { say(e.message, true); }
  });

  // ------------------------------------------------------------------ subscriptions
  // The first invoice's payment is confirmed with Stripe.js (card element); the subscription
  // turns active only when Stripe's webhook says the invoice is paid, which re-renders the
  // section (subscription.updated on notifications#<you>).
  function loadStripeJs(url) {
    if (window.Stripe) return Promise.resolve(window.Stripe);
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = url;
      tag.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe")));
      tag.onerror = reject;
      document.head.append(tag);
    });
  }

  async function bindSubscriptionPay(form) {
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    const status = form.querySelector("[data-pay-status]");
    let stripe, card;
    try {
      stripe = (await loadStripeJs(form.dataset.stripeJs))(form.dataset.stripeKey);
      card = stripe.elements().create("card");
      card.mount(form.querySelector("[data-card-element]"));
    } catch (e) {
      status.textContent = "Card payments are unavailable right now (Stripe did not load).";
      return;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      status.textContent = "Confirming with Stripe…";
      const result = await stripe.confirmCardPayment(form.dataset.clientSecret, { payment_method: { card } });
      status.textContent = result && result.error
        ? `Stripe: ${result.error.message || "the payment did not go through"}.`
        : "Paid. Your subscription starts as soon as Stripe confirms.";
    });
  }

  document.addEventListener("htmx:afterSettle", (ev) => {
    (ev.detail.elt || document).querySelectorAll("form[data-subscription-pay]").forEach(bindSubscriptionPay);
  });

  // ------------------------------------------------------------------ receipts
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-print]")) { ev.preventDefault(); window.print(); }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.querySelector("[data-oauth-callback]");
    if (box) finishCallback(box);
    followLinkMail();
  });
})();
