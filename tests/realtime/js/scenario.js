// centrifuge-js (JSON or Protobuf build) against the hub under Node:
// connect, subscribe, receive, history, then disconnect, miss publications, reconnect and
// recover. Prints one JSON line with what the SDK saw; exits non-zero on any failure.
//
// usage: node scenario.js <ws url> <http base> <channel> <json|protobuf> [token]
'use strict';

const WebSocket = require('ws');

const [url, httpBase, channel, format, token] = process.argv.slice(2);
const protobuf = format === 'protobuf';
const { Centrifuge } = protobuf ? require('centrifuge/build/protobuf') : require('centrifuge');

const decode = (data) => (protobuf ? JSON.parse(new TextDecoder().decode(data)) : data);

async function publish(data) {
  const r = await fetch(`${httpBase}/publish/${encodeURIComponent(channel)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
  });
  if (!r.ok) throw new Error(`publish failed: ${r.status}`);
}

function waitFor(predicate, what, ms = 5000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

async function main() {
  const client = new Centrifuge(url, { websocket: WebSocket, token: token || '' });
  const pubs = [];
  const subscribed = [];
  const sub = client.newSubscription(channel);
  sub.on('publication', (ctx) => pubs.push({ offset: ctx.offset, data: decode(ctx.data) }));
  sub.on('subscribed', (ctx) => subscribed.push({
    recoverable: ctx.recoverable, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered,
    offset: ctx.streamPosition ? ctx.streamPosition.offset : null,
  }));
  sub.subscribe();
  client.connect();
  await waitFor(() => subscribed.length === 1, 'subscribed');

  for (let i = 0; i < 3; i++) await publish({ phase: 'live', i });
  await waitFor(() => pubs.length === 3, 'live publications');

  const history = await sub.history({ limit: 10 });
  const historyOffsets = history.publications.map((p) => p.offset);

  client.disconnect();
  for (let i = 0; i < 4; i++) await publish({ phase: 'missed', i });
  client.connect();
  await waitFor(() => subscribed.length === 2 && pubs.length === 7, 'recovery');

  client.disconnect();
  console.log(JSON.stringify({ pubs, subscribed, historyOffsets }));
}

main().then(
  () => process.exit(0),
  (err) => { console.error(err); process.exit(1); },
);
