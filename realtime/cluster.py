"""The engine's Redis Cluster client: each command goes to the master owning its key's slot.

Why not redis-py's RedisCluster: after one node fails it closes every node's connections,
failing the commands other coroutines have in flight on healthy nodes (each of which then
does the same), and may retry a command that already ran. A publication must happen at most
once, and one shard's failover must not disturb the others. So here every master has its
own plain redis-py client (its own connection pool): a failing node fails only its own
commands, nothing is ever sent twice except after MOVED/ASK/TRYAGAIN (which say the command
did not run), and the slot map (CLUSTER SLOTS) is read again after any sign that it changed.

It offers what the broker uses: `register_script`, `pipeline()`, a few key commands,
`spublish` (on the key's shard), `publish_anywhere` (classic pub/sub, which a cluster
forwards to every node), `ping` and `aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterParser
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    MovedError,
    NoScriptError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("realtime.cluster")

SLOTS = 16384
REDIRECTS = 5


def _encode(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


class ShardedRedis:
    """A Redis Cluster, found from any one node (`url`); options in the URL's query
    (socket_timeout, ...) and `kwargs` apply to every node's client."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.kwargs = kwargs
        parts = urlsplit(url)
        self.nodes: list[str] = [f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"]
        self.owners: list[str | None] = [None] * SLOTS
        self.clients: dict[str, Redis] = {}
        self._stale = True
        self._refreshing: asyncio.Task[None] | None = None

    # --- topology ----------------------------------------------------------------------

    def client(self, addr: str) -> Redis:
        """The plain client of one node (created on first use)."""
        client = self.clients.get(addr)
        if client is None:
            parts = urlsplit(self.url)
            creds = parts.netloc.rpartition("@")[0]
            netloc = f"{creds}@{addr}" if creds else addr
            client = Redis.from_url(
                urlunsplit(parts._replace(netloc=netloc)), parser_class=ClusterParser, **self.kwargs
            )
            self.clients[addr] = client
        return client

    def stale(self) -> None:
        """Read the slot map again before the next command."""
        self._stale = True

    async def refresh(self) -> None:
        """Read CLUSTER SLOTS from any reachable node (one read at a time)."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def _refresh(self) -> None:
        nodes = list(self.nodes)
        random.shuffle(nodes)
        last: Exception | None = None
        for addr in nodes:
            try:
                reply = await self.client(addr).execute_command("CLUSTER", "SLOTS")
            except Exception as e:  # noqa: BLE001 - ask the next node
                last = e
                continue
            owners: list[str | None] = [None] * SLOTS
            for start, end, master, *replicas in reply:
                owner = self._addr(master, addr)
                owners[int(start) : int(end) + 1] = [owner] * (int(end) - int(start) + 1)
                for node in (master, *replicas):
                    naddr = self._addr(node, addr)
                    if naddr not in self.nodes:
                        self.nodes.append(naddr)
            self.owners = owners
            self._stale = False
            return
        raise RedisConnectionError(f"no Redis Cluster node answered CLUSTER SLOTS: {last!r}")

    @staticmethod
    def _addr(node: Any, asked: str) -> str:
        host = node[0].decode() if isinstance(node[0], bytes) else str(node[0])
        return f"{host or asked.rpartition(':')[0]}:{int(node[1])}"

    async def owner(self, key: Any) -> str:
        if self._stale:
            await self.refresh()
        addr = self.owners[key_slot(_encode(key))]
        if addr is None:
            self.stale()
            raise ClusterDownError(f"no master serves the slot of {key!r}")
        return addr

    async def masters(self) -> list[str]:
        if self._stale:
            await self.refresh()
        return list(dict.fromkeys(a for a in self.owners if a is not None))

    # --- commands ----------------------------------------------------------------------

    async def on_key(self, key: Any, *args: Any, **options: Any) -> Any:
        """`args` on the master owning `key`'s slot. Redirections are followed (the command
        did not run); any other failure is raised, and the slot map read again next time."""
        asking: str | None = None
        for _ in range(REDIRECTS):
            addr = asking or await self.owner(key)
            client = self.client(addr)
            try:
                if asking is not None:
                    async with client.pipeline(transaction=False) as pipe:
                        pipe.execute_command("ASKING")
                        pipe.execute_command(*args, **options)
                        return (await pipe.execute())[1]
                return await client.execute_command(*args, **options)
            except MovedError as e:
                self.owners[e.slot_id] = f"{e.host}:{e.port}"
                self.stale()
                asking = None
            except AskError as e:
                asking = f"{e.host}:{e.port}"
            except TryAgainError:
                await asyncio.sleep(0.05)
            except (RedisConnectionError, RedisTimeoutError, ClusterDownError):
                self.stale()
                raise
        raise ClusterError(f"too many redirections for {args[0]!r}")

    def register_script(self, script: str) -> ShardScript:
        return ShardScript(self, script)

    def pipeline(self, transaction: bool = False) -> ShardPipeline:
        if transaction:
            raise ValueError("a Redis Cluster pipeline cannot be a transaction")
        return ShardPipeline(self)

    async def spublish(self, channel: bytes, payload: bytes) -> int:
        """Sharded pub/sub: received by the subscribers of the channel's shard."""
        return int(await self.on_key(channel, "SPUBLISH", channel, payload))

    async def publish_anywhere(self, channel: bytes, payload: bytes) -> int:
        """Classic pub/sub through any node that answers (a cluster forwards it to all)."""
        masters = await self.masters()
        random.shuffle(masters)
        last: Exception | None = None
        for addr in [*masters, *(n for n in self.nodes if n not in masters)]:
            try:
                return int(await self.client(addr).execute_command("PUBLISH", channel, payload))
            except (RedisConnectionError, RedisTimeoutError) as e:
                last = e
                self.stale()
        raise RedisConnectionError(f"no Redis Cluster node took the publication: {last!r}")

    async def ping(self) -> bool:
        masters = await self.masters()
        return bool(await self.client(random.choice(masters)).ping())

    async def hset(self, name: Any, key: Any, value: Any) -> Any:
        return await self.on_key(name, "HSET", name, key, value)

    async def hgetall(self, name: Any) -> Any:
        return await self.on_key(name, "HGETALL", name)

    async def hdel(self, name: Any, *keys: Any) -> Any:
        return await self.on_key(name, "HDEL", name, *keys)

    async def zrem(self, name: Any, *values: Any) -> Any:
        return await self.on_key(name, "ZREM", name, *values)

    async def xlen(self, name: Any) -> Any:
        return await self.on_key(name, "XLEN", name)

    async def xrange(self, name: Any, min: Any = "-", max: Any = "+") -> Any:  # noqa: A002
        return await self.on_key(name, "XRANGE", name, min, max)

    async def xdel(self, name: Any, *ids: Any) -> Any:
        return await self.on_key(name, "XDEL", name, *ids)

    async def delete(self, name: Any) -> Any:
        return await self.on_key(name, "DEL", name)

    async def aclose(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


class ShardScript:
    """A Lua script run with EVALSHA on its first key's shard; a shard that does not have
    it (a replica just promoted) answers NOSCRIPT without running it: it is loaded there
    and run again."""

    def __init__(self, redis: ShardedRedis, script: str) -> None:
        self.redis = redis
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()

    async def __call__(
        self, keys: Iterable[Any] = (), args: Iterable[Any] = (), client: Any = None
    ) -> Any:
        keys, args = list(keys), list(args)
        if client is not None:  # queued on a ShardPipeline
            client.evalsha(self, keys, args)
            return None
        try:
            return await self.redis.on_key(keys[0], "EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(keys[0])
            return await self.redis.on_key(keys[0], "EVALSHA", self.sha, len(keys), *keys, *args)

    async def load(self, key: Any) -> None:
        await self.redis.on_key(key, "SCRIPT LOAD", self.script)


class ShardPipeline:
    """Commands grouped by shard, one pipeline per shard sent at once. Each command's result
    is its own: a shard that fails fails only its commands (`execute(raise_on_error=False)`
    returns the exceptions in place); MOVED/ASK answers are sent again to the right node."""

    def __init__(self, redis: ShardedRedis) -> None:
        self.redis = redis
        self.commands: list[tuple[Any, tuple[Any, ...], ShardScript | None]] = []

    async def __aenter__(self) -> ShardPipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.commands = []

    def on_key(self, key: Any, *args: Any) -> ShardPipeline:
        self.commands.append((key, args, None))
        return self

    def evalsha(self, script: ShardScript, keys: list[Any], args: list[Any]) -> None:
        self.commands.append((keys[0], ("EVALSHA", script.sha, len(keys), *keys, *args), script))

    def hset(self, name: Any, key: Any, value: Any) -> ShardPipeline:
        return self.on_key(name, "HSET", name, key, value)

    def zadd(self, name: Any, mapping: dict[Any, float]) -> ShardPipeline:
        flat = [x for member, score in mapping.items() for x in (score, member)]
        return self.on_key(name, "ZADD", name, *flat)

    def expire(self, name: Any, seconds: int) -> ShardPipeline:
        return self.on_key(name, "EXPIRE", name, seconds)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self.commands = self.commands, []
        results: list[Any] = [None] * len(commands)
        todo = list(range(len(commands)))
        for attempt in range(2):
            await self._send(commands, todo, results)
            # A shard without the script (a promoted replica) ran none of these: load it
            # there and send them again, in their order.
            todo = [i for i in todo if isinstance(results[i], NoScriptError)]
            if not todo or attempt:
                break
            loads: dict[tuple[str, str], ShardScript] = {}
            for i in todo:
                script = commands[i][2]
                if script is not None:
                    with contextlib.suppress(Exception):
                        loads[(await self.redis.owner(commands[i][0]), script.sha)] = script
            for (addr, _), script in loads.items():
                try:
                    await self.redis.client(addr).script_load(script.script)
                except Exception as e:  # noqa: BLE001 - that shard is down: not sent again
                    for i in todo:
                        results[i] = e
                    todo = []
                    break
        if raise_on_error:
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return results

    async def _send(self, commands: list[Any], todo: list[int], results: list[Any]) -> None:
        by_node: dict[str, list[int]] = {}
        for i in todo:
            try:
                by_node.setdefault(await self.redis.owner(commands[i][0]), []).append(i)
            except Exception as e:  # noqa: BLE001 - no node serves the slot right now
                results[i] = e
        await asyncio.gather(
            *(self._send_to(addr, items, commands, results) for addr, items in by_node.items())
        )
        for i in todo:  # redirected: this node did not run it
            if isinstance(results[i], AskError):
                key, args, _ = commands[i]
                try:
                    results[i] = await self.redis.on_key(key, *args)
                except Exception as e:  # noqa: BLE001
                    results[i] = e

    async def _send_to(
        self, addr: str, items: list[int], commands: list[Any], results: list[Any]
    ) -> None:
        try:
            async with self.redis.client(addr).pipeline(transaction=False) as pipe:
                for i in items:
                    pipe.execute_command(*commands[i][1])
                replies = await pipe.execute(raise_on_error=False)
        except Exception as e:  # noqa: BLE001 - the shard failed: their outcome is unknown
            # (as on a plain Redis that drops the connection): reported as failed.
            self.redis.stale()
            replies = [e] * len(items)
        for i, reply in zip(items, replies, strict=True):
            results[i] = reply
            if isinstance(reply, MovedError | RedisConnectionError | ClusterDownError):
                self.redis.stale()
