// centrifuge-js scenarios against the real hub (its authenticator and channel policy).
// usage: node hub_scenarios.js <scenario> '<json args>'
// Prints one JSON object per line: {"event": ...} at each step the Python test may act on,
// and finally {"event": "result", ...}. Exits non-zero on any failure.
'use strict';

const WebSocket = require('ws');

const [scenario, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs || '{}');
const protobuf = args.format === 'protobuf';
const { Centrifuge } = protobuf ? require('centrifuge/build/protobuf') : require('centrifuge');

const decode = (data) => (protobuf ? JSON.parse(new TextDecoder().decode(data)) : data);
const emit = (event, extra = {}) => console.log(JSON.stringify({ event, ...extra }));

function waitFor(predicate, what, ms = 20000) {
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

// The endpoint(s): the websocket URL, or with `transport` (http_stream | sse) that HTTP
// fallback only, as an app behind a websocket-blocking proxy would end up using it.
function endpoints(url) {
  if (!args.transport) return url;
  const base = url.replace(/^ws/, 'http').replace(/\/connection\/websocket$/, '');
  return [{ transport: args.transport, endpoint: `${base}/connection/${args.transport}` }];
}

function transportOptions(url) {
  if (!args.transport) return {};
  const base = url.replace(/^ws/, 'http').replace(/\/connection\/websocket$/, '');
  const { EventSource } = require('eventsource');
  return {
    emulationEndpoint: `${base}/emulation`,
    fetch: globalThis.fetch,
    readableStream: globalThis.ReadableStream,
    eventsource: EventSource,
  };
}

// A client whose getToken trades the refresh token for a realtime token, recording events.
function makeClient(extra = {}) {
  const seen = { tokenCalls: 0, connected: 0, disconnectCodes: [], connectingCodes: [] };
  const opts = {
    websocket: WebSocket,
    token: args.token || '',
    minReconnectDelay: 50,
    maxReconnectDelay: 500,
    ...transportOptions(args.url),
    ...extra,
  };
  if (args.refresh) {
    opts.getToken = async () => {
      seen.tokenCalls += 1;
      const r = await fetch(`${args.api}/realtime/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: args.refresh }),
      });
      if (!r.ok) throw new Error(`token endpoint: ${r.status}`);
      return (await r.json()).token;
    };
  }
  const client = new Centrifuge(endpoints(args.url), opts);
  client.on('connected', () => { seen.connected += 1; });
  client.on('disconnected', (ctx) => { seen.disconnectCodes.push(ctx.code); });
  client.on('connecting', (ctx) => { seen.connectingCodes.push(ctx.code); });
  return { client, seen };
}

function record(sub) {
  const rec = { pubs: [], subscribed: [], unsubscribed: [] };
  sub.on('publication', (ctx) => rec.pubs.push(decode(ctx.data)));
  sub.on('subscribed', (ctx) => rec.subscribed.push({
    wasRecovering: ctx.wasRecovering, recovered: ctx.recovered,
  }));
  sub.on('unsubscribed', (ctx) => rec.unsubscribed.push({ code: ctx.code, reason: ctx.reason }));
  return rec;
}

const scenarios = {
  // Connect with an expired token: 109, getToken, connected; no disconnect.
  async stale_token() {
    const { client, seen } = makeClient();
    client.connect();
    await waitFor(() => seen.connected === 1, 'connected');
    const sub = client.newSubscription(args.channel);
    const rec = record(sub);
    sub.subscribe();
    await waitFor(() => rec.subscribed.length === 1, 'subscribed');
    client.disconnect();
    const codes = seen.disconnectCodes.filter((c) => c !== 0);  // 0: our own disconnect()
    return { tokenCalls: seen.tokenCalls, connected: seen.connected, disconnectCodes: codes };
  },

  // Subscribed, then the network drops past the token's life; comes back and recovers.
  async offline() {
    const { client, seen } = makeClient();
    const sub = client.newSubscription(args.channel);
    const rec = record(sub);
    sub.subscribe();
    client.connect();
    await waitFor(() => rec.subscribed.length === 1, 'subscribed');
    emit('subscribed');
    await waitFor(() => rec.pubs.length === 1, 'first publication');
    emit('publication');
    await waitFor(() => seen.connectingCodes.length > 0 && client.state === 'connecting', 'offline');
    emit('offline');
    await waitFor(() => rec.subscribed.length === 2 && rec.pubs.length === 2, 'recovery', 40000);
    client.disconnect();
    return {
      tokenCalls: seen.tokenCalls, disconnectCodes: seen.disconnectCodes,
      subscribed: rec.subscribed, pubs: rec.pubs,
    };
  },

  // Subscribe from the start of the stream (offset 0, empty epoch) until a terminal event.
  async late_joiner() {
    const { client } = makeClient();
    const sub = client.newSubscription(args.channel, { since: { offset: 0, epoch: '' } });
    const rec = record(sub);
    const offsets = [];
    sub.on('publication', (ctx) => offsets.push(ctx.offset));
    sub.subscribe();
    client.connect();
    const terminal = ['run.completed', 'run.failed', 'run.canceled'];
    await waitFor(() => rec.pubs.some((p) => terminal.includes(p.type)), 'terminal event');
    client.disconnect();
    return { subscribed: rec.subscribed, pubs: rec.pubs, offsets };
  },

  // Two users in a room: what the reader learns about the other from join, presence and a
  // publication (client id, user id, connInfo), without any REST call.
  async chat_info() {
    const { client: reader } = makeClient();
    const { client: other } = makeClient({ token: args.token2 });
    const info = (i) => i && ({
      client: i.client, user: i.user, connInfo: i.connInfo ? decode(i.connInfo) : null,
    });
    const sub = reader.newSubscription(args.channel, { joinLeave: true });
    const joins = [];
    const pubs = [];
    sub.on('join', (ctx) => joins.push(info(ctx.info)));
    sub.on('publication', (ctx) => pubs.push(info(ctx.info)));
    sub.subscribe();
    reader.connect();
    await sub.ready(10000);
    const sub2 = other.newSubscription(args.channel);
    sub2.subscribe();
    other.connect();
    await sub2.ready(10000);
    const otherUser = args.user2;
    await waitFor(() => joins.some((j) => j.user === otherUser), 'join of the other');
    const join = joins.find((j) => j.user === otherUser);
    const presence = await sub.presence();
    const entry = Object.values(presence.clients).find((c) => c.user === otherUser);
    const text = { text: 'hello' };
    await sub2.publish(protobuf ? new TextEncoder().encode(JSON.stringify(text)) : text);
    await waitFor(() => pubs.length === 1, 'publication');
    reader.disconnect();
    other.disconnect();
    return { join, presence: info(entry), pubInfo: pubs[0] };
  },

  // Server-side subscriptions: 'subscribed' and 'publication' events on the client itself;
  // the network drops, and the reconnect recovers what was missed, in the connect reply.
  async server_subs() {
    const { client, seen } = makeClient();
    const subscribed = [];
    const pubs = [];
    client.on('subscribed', (ctx) => subscribed.push({
      channel: ctx.channel, wasRecovering: ctx.wasRecovering, recovered: ctx.recovered,
    }));
    client.on('publication', (ctx) => pubs.push({ channel: ctx.channel, data: decode(ctx.data) }));
    client.connect();
    await waitFor(() => subscribed.length === args.count, 'server-side subscriptions');
    emit('subscribed', { channels: subscribed.map((s) => s.channel) });
    await waitFor(() => pubs.length === 1, 'first publication');
    emit('publication');
    await waitFor(() => seen.connectingCodes.length > 0 && client.state === 'connecting', 'offline');
    emit('offline');
    await waitFor(() => subscribed.length === 2 * args.count && pubs.length === 2, 'recovery');
    client.disconnect();
    return { subscribed, pubs };
  },

  // Subscribe to a channel the user may not read: the error code the SDK reports.
  async subscribe_error() {
    const { client } = makeClient();
    const sub = client.newSubscription(args.channel);
    const codes = [];
    sub.on('error', (ctx) => codes.push(ctx.error.code));
    sub.on('unsubscribed', (ctx) => codes.push(ctx.code));
    sub.subscribe();
    client.connect();
    await waitFor(() => codes.length > 0, 'subscribe error');
    client.disconnect();
    return { code: codes[0] };
  },

  // A fossil-delta subscription: what the SDK rebuilds from the (delta) publications.
  async delta() {
    const { client } = makeClient();
    const sub = client.newSubscription(args.channel, { delta: 'fossil' });
    const pubs = [];
    const subscribed = [];
    sub.on('publication', (ctx) => pubs.push(protobuf ? decode(ctx.data) : ctx.data));
    sub.on('subscribed', (ctx) => subscribed.push({ delta: sub._delta_negotiated === true }));
    sub.subscribe();
    client.connect();
    await waitFor(() => subscribed.length === 1 && pubs.length === 1, 'subscribed with the state');
    emit('subscribed');
    await waitFor(() => pubs.length === args.count, 'publications');
    client.disconnect();
    return { pubs, subscribed };
  },
};

async function main() {
  const fn = scenarios[scenario];
  if (!fn) throw new Error(`unknown scenario ${scenario}`);
  const result = await fn();
  emit('result', result);
}

main().then(
  () => process.exit(0),
  (err) => { console.error(err && err.stack ? err.stack : err); process.exit(1); },
);
