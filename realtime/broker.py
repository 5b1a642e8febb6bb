"""Redis broker: atomic publish with offsets and epochs, history streams, presence, limits.

One Lua script per operation keeps each channel's state consistent with any number of hub
processes and publishers:

* `publish` increments the channel offset, appends to the history stream (exact MAXLEN, entry
  id = offset, so "history covers offset+1" is a plain check), refreshes TTLs and PUBLISHes
  `p<offset>:<epoch>:<json>` to the channel's pub/sub channel, all in one atomic step. Redis
  delivers pub/sub messages in execution order, so every node sees a channel's publications
  in offset order, whichever process or worker published them.
* A missing meta key (first use, TTL passed, or a flushed Redis) creates a new random epoch
  and drops any stale stream, so clients recovering from an old epoch get `recovered: false`.
* With an idempotency key, `publish` happens at most once per key (within the key's TTL): a
  repeat returns the first publication's offset and epoch and publishes nothing. A retried
  job or a reaper can then re-send a terminal event without clients seeing it twice.
* `history` reads epoch, top offset and a stream range in one atomic step.
* A client's publication carries its `info` (`{"user", "client", "conn_info"}` JSON): stored
  as the stream entry's field `i` and published as `q<offset>:<epoch>:<len(info)>:<info><json>`,
  so every node and every recovery shows who said it. Server publications have none (`p`).

On a Redis Cluster (`connect_redis(url, cluster=True)`) the same scripts run on the slot of
the channel's hash tag, and fan-out uses sharded pub/sub: the script SPUBLISHes, so a
publication travels only within the shard that owns the channel. Replication in a cluster is
asynchronous, so a replica promoted by a failover may lack the last publications of its
master: the meta key remembers which node (`CLUSTER MYID`) wrote its epoch, and a different
node starts a new epoch before it publishes or answers a history read. Subscribers then get
`recovered: false` (and reload) instead of offsets that would silently mean other data.

`Publisher` is the publish half alone, for arq workers and other processes without an Engine.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from realtime.cluster import ShardedRedis
from realtime.config import NamespaceOptions
from realtime.errors import DISCONNECT_FORCE_NO_RECONNECT, UNSUBSCRIBE_SERVER, UnknownChannel
from realtime.keys import Keys

_PUBLISH = """
if ARGV[7] ~= '' then
  local seen = redis.call('get', KEYS[3])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1), 1}
  end
end
local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('hset', KEYS[1], 'e', epoch)
  redis.call('del', KEYS[2])
end
local offset = redis.call('hincrby', KEYS[1], 's', 1)
local size = tonumber(ARGV[2])
local info = ARGV[8]
if size > 0 then
  if info ~= '' then
    redis.call('xadd', KEYS[2], 'MAXLEN', size, offset .. '-0', 'd', ARGV[1], 'i', info)
  else
    redis.call('xadd', KEYS[2], 'MAXLEN', size, offset .. '-0', 'd', ARGV[1])
  end
  local ttl = tonumber(ARGV[3])
  if ttl > 0 then redis.call('expire', KEYS[2], ttl) end
end
local mttl = tonumber(ARGV[4])
if mttl > 0 then redis.call('expire', KEYS[1], mttl) end
if info ~= '' then
  redis.call('publish', ARGV[6], 'q' .. offset .. ':' .. epoch .. ':' .. #info .. ':' .. info .. ARGV[1])
else
  redis.call('publish', ARGV[6], 'p' .. offset .. ':' .. epoch .. ':' .. ARGV[1])
end
if ARGV[7] ~= '' then
  redis.call('set', KEYS[3], offset .. ':' .. epoch, 'EX', tonumber(ARGV[7]))
end
return {offset, epoch, 0}
"""


def _many(script: str, keys_per_item: int, args_per_item: int) -> str:
    """`script` (one publication: its KEYS and ARGV) applied to every item of a batch in one
    call: KEYS and ARGV hold `keys_per_item` and `args_per_item` entries per item, and the
    reply is the items' replies, flattened. Derived from the single script's text, so both
    do exactly the same per publication."""
    body = re.sub(r"KEYS\[(\d+)\]", r"KEYS[k + \1]", script)
    body = re.sub(r"ARGV\[(\d+)\]", r"ARGV[a + \1]", body)
    return (
        f"local function one(k, a)\n{body}end\n"
        "local out = {}\n"
        f"for i = 0, #KEYS / {keys_per_item} - 1 do\n"
        f"  local r = one({keys_per_item} * i, {args_per_item} * i)\n"
        "  out[#out + 1] = r[1]\n  out[#out + 1] = r[2]\n  out[#out + 1] = r[3]\n"
        "end\n"
        "return out\n"
    )


#: Publications of any channels in one call (see Publisher.publish_many).
_PUBLISH_MANY = _many(_PUBLISH, 3, 8)


_HISTORY = """
local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[1], 'e', epoch)
  redis.call('del', KEYS[2])
  local mttl = tonumber(ARGV[2])
  if mttl > 0 then redis.call('expire', KEYS[1], mttl) end
end
local top = tonumber(redis.call('hget', KEYS[1], 's') or '0')
local limit = tonumber(ARGV[4])
local entries = {}
if limit ~= 0 then
  local since = ARGV[3]
  local args
  if ARGV[5] == '1' then
    local hi = '+'
    if since ~= '' then hi = '(' .. since .. '-0' end
    args = {'xrevrange', KEYS[2], hi, '-'}
  else
    local lo = '-'
    if since ~= '' then lo = '(' .. since .. '-0' end
    args = {'xrange', KEYS[2], lo, '+'}
  end
  if limit > 0 then
    args[#args + 1] = 'COUNT'
    args[#args + 1] = limit
  end
  entries = redis.call(unpack(args))
end
return {epoch, top, entries}
"""

_PRESENCE_ADD = """
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
redis.call('expire', KEYS[1], ARGV[4])
redis.call('expire', KEYS[2], ARGV[4])
return 1
"""

_PRESENCE_GET = """
local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])
for _, c in ipairs(expired) do redis.call('hdel', KEYS[1], c) end
if #expired > 0 then redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[1]) end
return redis.call('hgetall', KEYS[1])
"""

_USER_CONNECT = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('zscore', KEYS[1], ARGV[3]) == false then
  if redis.call('zcard', KEYS[1]) >= limit then return 0 end
end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[3])
redis.call('expire', KEYS[1], ARGV[5])
return 1
"""


_EPOCH = {
    "ARGV[5]": "local epoch = redis.call('hget', KEYS[1], 'e')\nif not epoch then\n"
    "  epoch = ARGV[5]\n  redis.call('hset', KEYS[1], 'e', epoch)\n",
    "ARGV[1]": "local epoch = redis.call('hget', KEYS[1], 'e')\nif not epoch then\n"
    "  epoch = ARGV[1]\n  redis.call('hset', KEYS[1], 'e', epoch)\n",
}


def _for_cluster(script: str, epoch_arg: str) -> str:
    """The Redis Cluster variant of a script: the epoch also ends when another node than the
    one that wrote it holds the channel (a promoted replica), and publications go out with
    SPUBLISH on the channel's shard (the sharded channel is KEYS[4], same hash tag)."""
    plain = _EPOCH[epoch_arg]
    assert plain in script
    cluster = (
        "local epoch = redis.call('hget', KEYS[1], 'e')\n"
        "local owner = redis.call('cluster', 'myid')\n"
        "if epoch and redis.call('hget', KEYS[1], 'n') ~= owner then epoch = false end\n"
        f"if not epoch then\n  epoch = {epoch_arg}\n"
        "  redis.call('hset', KEYS[1], 'e', epoch, 'n', owner)\n"
    )
    return script.replace(plain, cluster).replace(
        "redis.call('publish', ARGV[6],", "redis.call('spublish', KEYS[4],"
    )


_PUBLISH_CLUSTER = _for_cluster(_PUBLISH, "ARGV[5]")
_HISTORY_CLUSTER = _for_cluster(_HISTORY, "ARGV[1]")

_PRESENCE_REMOVE = """
redis.call('hdel', KEYS[1], ARGV[1])
redis.call('zrem', KEYS[2], ARGV[1])
return 1
"""


def connect_redis(url: str, cluster: bool = False, **kwargs: Any) -> Any:
    """The engine's Redis client: plain Redis, or with `cluster` a Redis Cluster discovered
    from the node `url` names (realtime.cluster.ShardedRedis: every command on its slot's
    master, sent at most once, one failing shard disturbing no other)."""
    if not cluster:
        return Redis.from_url(url, **kwargs)
    return ShardedRedis(url, **kwargs)


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, ShardedRedis)


class PartialPublishError(Exception):
    """`publish_many` on a cluster where some shards took their publications and others
    failed (a master down mid-failover). `results` has, in item order, each item's
    PublishResult or its exception, so a caller re-sends only what did not go out (the
    others must not be published twice). Raised from the first error (`__cause__`)."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        failed = [r for r in results if isinstance(r, BaseException)]
        super().__init__(f"{len(failed)} of {len(results)} publications failed: {failed[0]!r}")


def new_epoch() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class PublishResult:
    offset: int
    epoch: str
    #: True when an idempotency key had been used already: nothing was published this time.
    duplicate: bool = False


#: How long an idempotency key is remembered when the namespace keeps no longer history.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
#: Publications per script call of `publish_many` (Redis runs one call at a time: ~6 µs each).
BATCH_ITEMS = 1000

PublishItem = tuple[str, Any] | tuple[str, Any, str | None]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    offset: int
    data: bytes
    #: The publishing client's info (JSON) for client publications, else None.
    info: bytes | None = None


@dataclass(frozen=True, slots=True)
class StreamState:
    """A channel stream's position plus the publications read with it."""

    epoch: str
    offset: int
    publications: list[HistoryEntry]


OptionsLookup = Callable[[str], NamespaceOptions | None]


def _options_lookup(policy_or_lookup: Any) -> OptionsLookup:
    lookup = getattr(policy_or_lookup, "namespace_options", None)
    return lookup if lookup is not None else policy_or_lookup


_encode = msgspec.json.Encoder().encode


def _result(reply: Any) -> PublishResult:
    offset, epoch, duplicate = reply
    return PublishResult(
        int(offset), epoch.decode() if isinstance(epoch, bytes) else epoch, bool(int(duplicate))
    )


class Publisher:
    """Publish to channels through Redis, from any process (the hub app or an arq worker).

    `options` is the hub's ChannelPolicy or any callable `channel -> NamespaceOptions | None`;
    it supplies each namespace's history size and TTL.
    """

    def __init__(
        self,
        redis: Redis,
        options: Any,
        *,
        prefix: str = "hub",
        history_meta_ttl_seconds: int = 30 * 24 * 3600,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._options = _options_lookup(options)
        self._meta_ttl = history_meta_ttl_seconds
        self.cluster = is_cluster(redis)
        self._script = redis.register_script(_PUBLISH_CLUSTER if self.cluster else _PUBLISH)
        # One call for a whole batch touches many channels' slots: plain Redis only.
        self._script_many = None if self.cluster else redis.register_script(_PUBLISH_MANY)

    async def publish(
        self, channel: str, data: Any, idempotency_key: str | None = None
    ) -> PublishResult:
        """Publish `data` (a JSON-serialisable dict) to `channel`; returns its offset and epoch.

        With `idempotency_key`, a repeat of the same key on the same channel publishes nothing
        and returns the first publication's position (`duplicate=True`).
        """
        opts = self._options(channel)
        if opts is None:
            raise UnknownChannel(channel)
        payload = data if isinstance(data, bytes | bytearray) else _encode(data)
        return await self.publish_raw(channel, bytes(payload), opts, idempotency_key)

    async def publish_raw(
        self,
        channel: str,
        payload: bytes,
        opts: NamespaceOptions,
        idempotency_key: str | None = None,
        *,
        client: Any = None,
        info: bytes = b"",
    ) -> Any:
        """Run the publish script (queued on `client` when it is a pipeline).

        `info` is the publishing client's info JSON (client publications only)."""
        script_keys, args = self._publish_args(channel, payload, opts, idempotency_key, info)
        reply = await self._script(keys=script_keys, args=args, client=client)
        return reply if client is not None else _result(reply)

    def _publish_args(
        self,
        channel: str,
        payload: bytes,
        opts: NamespaceOptions,
        idempotency_key: str | None,
        info: bytes = b"",
    ) -> tuple[list[Any], list[Any]]:
        """The publish script's keys and arguments."""
        keys = self.keys
        size = opts.history_size if opts.recoverable else 0
        idem_ttl = max(IDEMPOTENCY_TTL_SECONDS, opts.history_ttl_seconds) if idempotency_key else 0
        script_keys: list[Any] = [
            keys.meta(channel),
            keys.stream(channel),
            keys.idempotency(channel, idempotency_key or "-"),
        ]
        if self.cluster:
            script_keys.append(keys.pubsub(channel))
        args = [
            payload,
            size,
            opts.history_ttl_seconds if size else 0,
            max(self._meta_ttl, opts.history_ttl_seconds),
            new_epoch(),
            keys.pubsub(channel),
            idem_ttl or "",
            info,
        ]
        return script_keys, args

    async def publish_many(self, items: list[PublishItem]) -> list[PublishResult]:
        """Publish several publications in one Redis round trip and one script call (each
        as atomic as `publish`; the batch even as a whole).

        `items` are `(channel, data)` or `(channel, data, idempotency_key)`. Publications to one
        channel keep their order. Raises UnknownChannel before anything is sent. Batches over
        `BATCH_ITEMS` go as several script calls in one pipeline, so that Redis serves other
        clients between them.
        """
        if self.cluster:
            return await self._publish_many_cluster(self._prepare(items))
        keys_of = self.keys
        keys: list[Any] = []
        args: list[Any] = []
        # The epoch a channel starts with if it has none: one candidate serves the batch
        # (epochs are compared per channel only).
        epoch = new_epoch()
        for item in items:
            channel, data = item[0], item[1]
            key = item[2] if len(item) > 2 else None
            opts = self._options(channel)
            if opts is None:
                raise UnknownChannel(channel)
            payload = data if isinstance(data, bytes | bytearray) else _encode(data)
            size = opts.history_size if opts.recoverable else 0
            idem_ttl = max(IDEMPOTENCY_TTL_SECONDS, opts.history_ttl_seconds) if key else 0
            keys += (
                keys_of.meta(channel),
                keys_of.stream(channel),
                keys_of.idempotency(channel, key or "-"),
            )
            args += (
                bytes(payload),
                size,
                opts.history_ttl_seconds if size else 0,
                max(self._meta_ttl, opts.history_ttl_seconds),
                epoch,
                keys_of.pubsub(channel),
                idem_ttl or "",
                b"",
            )
        if not items:
            return []
        n = len(items)
        assert self._script_many is not None
        if n <= BATCH_ITEMS:
            flat = await self._script_many(keys=keys, args=args)
        else:
            flat = await self._many_pipelined(keys, args, n)
        return [_result(flat[i : i + 3]) for i in range(0, len(flat), 3)]

    async def _many_pipelined(self, keys: list[Any], args: list[Any], n: int) -> list[Any]:
        """A large batch as script calls of `BATCH_ITEMS` in one pipeline (sent as EVALSHA
        directly: redis-py checks a pipeline's scripts with an extra SCRIPT EXISTS round trip
        on every execute). Calls Redis did not know the script for did not run: they are sent
        again, in order, once it is loaded."""
        script = self._script_many
        assert script is not None
        calls = []
        for start in range(0, n, BATCH_ITEMS):
            stop = min(n, start + BATCH_ITEMS)
            part = keys[3 * start : 3 * stop]
            calls.append((len(part), *part, *args[8 * start : 8 * stop]))
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in todo:
                    pipe.execute_command("EVALSHA", script.sha, *calls[i])
                results = await pipe.execute(raise_on_error=False)
            for i, result in zip(todo, results, strict=True):
                replies[i] = result
            todo = [i for i in todo if isinstance(replies[i], NoScriptError)]
            if not todo or attempt:
                break
            script.sha = await self.redis.script_load(script.script)
        flat: list[Any] = []
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
            flat += reply
        return flat

    def _prepare(self, items: list[PublishItem]) -> list[Any]:
        prepared = []
        for item in items:
            channel, data = item[0], item[1]
            key = item[2] if len(item) > 2 else None
            opts = self._options(channel)
            if opts is None:
                raise UnknownChannel(channel)
            payload = data if isinstance(data, bytes | bytearray) else _encode(data)
            prepared.append((channel, bytes(payload), opts, key))
        return prepared

    async def _publish_many_cluster(self, prepared: list[Any]) -> list[PublishResult]:
        """publish_many on a cluster: one pipeline per shard, all sent at once, so a shard
        that fails costs only its own publications; PartialPublishError then says which
        publications went out (a caller must not send those again)."""
        if not prepared:
            return []
        async with self.redis.pipeline() as pipe:
            for channel, payload, opts, key in prepared:
                await self.publish_raw(channel, payload, opts, key, client=pipe)
            replies = await pipe.execute(raise_on_error=False)
        errors = [r for r in replies if isinstance(r, BaseException)]
        if errors and len(errors) == len(replies):
            raise errors[0]
        if errors:
            outcomes = [r if isinstance(r, BaseException) else _result(r) for r in replies]
            raise PartialPublishError(outcomes) from errors[0]
        return [_result(r) for r in replies]

    async def disconnect_user(
        self,
        user_id: str,
        code: int = DISCONNECT_FORCE_NO_RECONNECT.code,
        reason: str = DISCONNECT_FORCE_NO_RECONNECT.reason,
    ) -> None:
        """Close every connection of `user_id` on every hub process (logout, ban)."""
        await self.control({"op": "disconnect", "user": user_id, "code": code, "reason": reason})

    async def unsubscribe(
        self,
        user_id: str,
        channel: str,
        code: int = UNSUBSCRIBE_SERVER.code,
        reason: str = UNSUBSCRIBE_SERVER.reason,
    ) -> None:
        """End `user_id`'s subscriptions to `channel` on every hub process, now.

        Each subscriber gets an `unsubscribe` push with `code`: below 2500 the SDK stays
        unsubscribed (codes 2100-2499 are the application's), from 2500 it resubscribes.
        """
        await self.control(
            {
                "op": "unsubscribe",
                "user": user_id,
                "channel": channel,
                "code": code,
                "reason": reason,
            }
        )

    async def control(self, msg: dict[str, Any]) -> None:
        """Send a control message to every hub process (Redis pub/sub `<prefix>:control`).

        On a cluster this is classic pub/sub, which every node forwards to every other, so a
        process hears it whichever node it listens on."""
        payload = _encode(msg)
        if isinstance(self.redis, ShardedRedis):  # = self.cluster, spelled for mypy
            await self.redis.publish_anywhere(self.keys.control, payload)
        else:
            await self.redis.publish(self.keys.control, payload)

    async def publish_to(self, rchannel: bytes, payload: bytes) -> int:
        """Publish on a raw pub/sub channel (a process's own channel); returns how many
        subscribers got it (sharded pub/sub on a cluster: the channel's shard)."""
        if self.cluster:
            return int(await self.redis.spublish(rchannel, payload))
        return int(await self.redis.publish(rchannel, payload))

    async def history_remove(self, channel: str, where: Callable[[Any], bool] | None = None) -> int:
        """Remove publications from a channel's history (moderation, erasure).

        Without `where` the whole stream goes (as Centrifugo's `history_remove`); the offset
        and epoch stay, so subscribers recovering across it get `recovered: false` and reload.
        With `where`, only the publications whose decoded data it accepts are removed (a hole:
        a recovery across it answers `recovered: false` too, never a silent gap). Returns how
        many publications were removed.
        """
        key = self.keys.stream(channel)
        if where is None:
            count = int(await self.redis.xlen(key))
            await self.redis.delete(key)
            return count
        doomed = []
        for entry_id, fields in await self.redis.xrange(key, "-", "+"):
            raw = fields.get(b"d")
            if raw is None:
                continue
            try:
                data = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                continue
            if where(data):
                doomed.append(entry_id)
        if doomed:
            await self.redis.xdel(key, *doomed)
        return len(doomed)


class Broker(Publisher):
    """Publisher plus the reads and bookkeeping a running Engine needs."""

    def __init__(self, redis: Redis, options: Any, *, prefix: str = "hub", **kw: Any) -> None:
        super().__init__(redis, options, prefix=prefix, **kw)
        self._history = redis.register_script(_HISTORY_CLUSTER if self.cluster else _HISTORY)
        self._presence_add = redis.register_script(_PRESENCE_ADD)
        self._presence_remove = redis.register_script(_PRESENCE_REMOVE)
        self._presence_get = redis.register_script(_PRESENCE_GET)
        self._user_connect = redis.register_script(_USER_CONNECT)

    async def history(
        self, channel: str, *, since: int | None = None, limit: int = 0, reverse: bool = False
    ) -> StreamState:
        """Stream position and up to `limit` publications (-1: all kept; 0: none).

        Forward reads start after `since` (or at the oldest kept); reverse reads go backwards
        from before `since` (or from the newest).
        """
        keys = self.keys
        epoch, top, entries = await self._history(
            keys=[keys.meta(channel), keys.stream(channel)],
            args=[
                new_epoch(),
                self._meta_ttl,
                "" if since is None else str(since),
                limit,
                "1" if reverse else "0",
            ],
        )
        pubs = []
        for entry_id, fields in entries:
            offset = int(entry_id.split(b"-", 1)[0])
            data = b"null"
            info = None
            for i in range(0, len(fields), 2):
                if fields[i] == b"d":
                    data = fields[i + 1]
                elif fields[i] == b"i":
                    info = fields[i + 1]
            pubs.append(HistoryEntry(offset, data, info))
        return StreamState(epoch.decode() if isinstance(epoch, bytes) else epoch, int(top), pubs)

    # --- presence ------------------------------------------------------------------------

    async def presence_add(self, channel: str, client_id: str, info: bytes, ttl: float) -> None:
        keys = self.keys
        await self._presence_add(
            keys=[keys.presence(channel), keys.presence_expiry(channel)],
            args=[client_id, info, time.time() + ttl, int(ttl) + 1],
        )

    async def presence_refresh(self, entries: list[tuple[str, str, bytes]], ttl: float) -> None:
        if not entries:
            return
        expire_at = time.time() + ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for channel, client_id, info in entries:
                hkey, zkey = self.keys.presence(channel), self.keys.presence_expiry(channel)
                # redis-py types a hash value as str; bytes go out as they are.
                pipe.hset(hkey, client_id, info)  # type: ignore[arg-type]
                pipe.zadd(zkey, {client_id: expire_at})
                pipe.expire(hkey, int(ttl) + 1)
                pipe.expire(zkey, int(ttl) + 1)
            await pipe.execute()

    async def presence_remove(self, channel: str, client_id: str) -> None:
        keys = self.keys
        await self._presence_remove(
            keys=[keys.presence(channel), keys.presence_expiry(channel)], args=[client_id]
        )

    async def presence(self, channel: str) -> dict[str, bytes]:
        keys = self.keys
        flat = await self._presence_get(
            keys=[keys.presence(channel), keys.presence_expiry(channel)], args=[time.time()]
        )
        return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    async def publish_join_leave(self, channel: str, kind: bytes, info: bytes) -> None:
        await self.publish_to(self.keys.pubsub(channel), kind + info)

    # --- connections per user ------------------------------------------------------------

    async def user_connect(self, user_id: str, client_id: str, limit: int, ttl: float) -> bool:
        now = time.time()
        ok = await self._user_connect(
            keys=[self.keys.user_connections(user_id)],
            args=[now, now + ttl, client_id, limit, int(ttl) + 1],
        )
        return bool(ok)

    async def user_refresh(self, entries: list[tuple[str, str]], ttl: float) -> None:
        if not entries:
            return
        expire_at = time.time() + ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, client_id in entries:
                key = self.keys.user_connections(user_id)
                pipe.zadd(key, {client_id: expire_at})
                pipe.expire(key, int(ttl) + 1)
            await pipe.execute()

    async def user_disconnect(self, user_id: str, client_id: str) -> None:
        await self.redis.zrem(self.keys.user_connections(user_id), client_id)

    # --- nodes ---------------------------------------------------------------------------

    async def report_node(self, node_id: str, info: dict[str, Any], ttl: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            # redis-py types a hash value as str; bytes go out as they are.
            pipe.hset(self.keys.nodes, node_id, _encode(info))  # type: ignore[arg-type]
            pipe.expire(self.keys.nodes, ttl)
            await pipe.execute()

    async def nodes(self, max_age: float) -> list[dict[str, Any]]:
        """Reports younger than `max_age` seconds; older ones (stopped processes) are deleted."""
        # redis-py types each command for its sync and async clients at once (T |
        # Awaitable[T]); on the asyncio client every command is awaited.
        raw = await self.redis.hgetall(self.keys.nodes)  # type: ignore[misc]
        now = time.time()
        live, stale = [], []
        for node_id, payload in raw.items():
            try:
                info = msgspec.json.decode(payload)
            except msgspec.DecodeError:
                info = {}
            if now - float(info.get("updated_at") or 0) > max_age:
                stale.append(node_id)
            else:
                live.append(info)
        if stale:
            await self.redis.hdel(self.keys.nodes, *stale)  # type: ignore[misc]  # T | Awaitable
        return sorted(live, key=lambda n: str(n.get("name")))
