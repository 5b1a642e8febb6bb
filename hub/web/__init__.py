"""Server-rendered web pages: Jinja templates, htmx for navigation and forms, centrifuge-js live.

How pages authenticate (see docs/web.md): pages themselves are public shells rendered with
public data only (a shareable URL shows the same thing to everyone, and never a Private Mode
template). Whatever is personal (wallet, runs, notifications, the dashboard, forms that act)
is a fragment under `/web/` that htmx loads with `Authorization: Bearer <access token>`; the
tokens live in the browser's localStorage and are refreshed (one tab at a time, under a Web
Lock) before they expire. No cookie carries credentials, so there is nothing to forge
cross-site (no CSRF surface), and the strict CSP (`script-src 'self'`) plus Jinja's
auto-escaping keep injected script from reading the tokens.
"""
