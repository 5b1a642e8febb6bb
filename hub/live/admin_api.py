"""The realtime server API for admins: `/api/v1/admin/realtime/...` (thin over the Engine).

Publish, unsubscribe a user from a channel (live, with a code), disconnect a user, presence,
history, history_remove, and every hub process's connection and channel counts. The admin
role is read from the database on every request, not trusted from the access token.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from hub.live.schemas import (
    ChannelIn,
    ClientInfoOut,
    DisconnectIn,
    HistoryOut,
    NodeOut,
    NodesOut,
    PresenceOut,
    PublicationOut,
    PublishIn,
    PublishOut,
    RemovedOut,
    UnsubscribeIn,
)
from hub.platform.auth import CurrentUser
from hub.platform.db import fetchrow
from hub.platform.errors import bad_request, forbidden
from realtime import Engine


async def _engine(request: Request[CurrentUser, Any, Any]) -> Engine:
    row = await fetchrow(
        "SELECT roles FROM users WHERE id = $1 AND deleted_at IS NULL", uuid.UUID(request.user.id)
    )
    if row is None or "admin" not in (row["roles"] or ()):
        raise forbidden("Only admins may use the realtime server API.")
    return request.app.state.realtime


def _known(engine: Engine, channel: str) -> str:
    if engine.policy.namespace_options(channel) is None:
        raise bad_request(
            f"'{channel}' is not a channel of this hub (unknown namespace or not canonical).",
            "channel",
        )
    return channel


def _info(raw: Any) -> ClientInfoOut | None:
    if not isinstance(raw, dict):
        return None
    conn = raw.get("conn_info")
    return ClientInfoOut(
        client=str(raw.get("client") or ""),
        user=str(raw.get("user") or ""),
        conn_info=conn if isinstance(conn, dict) else None,
    )


class RealtimeAdminController(Controller):
    path = "/admin/realtime"
    tags = ["realtime"]

    @post(
        "/publish",
        status_code=HTTP_200_OK,
        summary="Publish to a channel (admin)",
        description="Server publication (no client info) with the channel's history and "
        "recovery, fanned out on every hub process. 400 for a channel the hub does not have.",
    )
    async def publish(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[PublishIn]
    ) -> PublishOut:
        engine = await _engine(request)
        result = await engine.publish(_known(engine, data.channel), data.data)
        return PublishOut(offset=result.offset, epoch=result.epoch)

    @post(
        "/unsubscribe",
        status_code=HTTP_204_NO_CONTENT,
        summary="End a user's subscriptions to a channel, live (admin)",
        description="Every connection of the user on every hub process gets an `unsubscribe` "
        "push with `code` (2000-2499: the SDK stays unsubscribed; 2500-2999: it resubscribes). "
        "It does not stop a later subscribe the channel policy allows.",
    )
    async def unsubscribe(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[UnsubscribeIn]
    ) -> None:
        engine = await _engine(request)
        await engine.unsubscribe(data.user_id, _known(engine, data.channel), data.code, data.reason)

    @post(
        "/disconnect",
        status_code=HTTP_204_NO_CONTENT,
        summary="Close a user's connections (admin)",
        description="Every connection of the user on every hub process is closed with `code` "
        "(3000-3499: SDKs reconnect; 3500-3999, default 3503: they stop).",
    )
    async def disconnect(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[DisconnectIn]
    ) -> None:
        engine = await _engine(request)
        await engine.disconnect_user(data.user_id, data.code, data.reason)

    @get(
        "/presence",
        summary="Who is subscribed to a channel (admin)",
        description="Clients on every hub process, with user id and `conn_info` "
        "`{handle, display_name}`. Namespaces without presence answer an empty list.",
    )
    async def presence(
        self,
        request: Request[CurrentUser, Any, Any],
        channel: Annotated[str, Parameter(min_length=1, max_length=255)],
    ) -> PresenceOut:
        engine = await _engine(request)
        clients = [
            c
            for c in (_info(v) for v in (await engine.presence(_known(engine, channel))).values())
            if c is not None
        ]
        return PresenceOut(
            channel=channel,
            num_clients=len(clients),
            num_users=len({c.user for c in clients}),
            clients=clients,
        )

    @get(
        "/history",
        summary="A channel's history (admin)",
        description="The stream position and up to `limit` publications (-1: all kept, at "
        "most 1000), oldest first or `reverse`; `since_offset` starts after that offset.",
    )
    async def history(
        self,
        request: Request[CurrentUser, Any, Any],
        channel: Annotated[str, Parameter(min_length=1, max_length=255)],
        limit: Annotated[int, Parameter(ge=-1, le=1000)] = 100,
        reverse: FromQuery[bool] = False,
        since_offset: Annotated[int | None, Parameter(ge=0)] = None,
    ) -> HistoryOut:
        engine = await _engine(request)
        state = await engine.history(
            _known(engine, channel),
            limit=1000 if limit < 0 else limit,
            since=since_offset,
            reverse=reverse,
        )
        pubs = []
        for p in state.publications:
            try:
                value = msgspec.json.decode(p.data)
                info = _info(msgspec.json.decode(p.info)) if p.info else None
            except msgspec.DecodeError:
                continue
            pubs.append(PublicationOut(offset=p.offset, data=value, info=info))
        return HistoryOut(
            channel=channel, epoch=state.epoch, offset=state.offset, publications=pubs
        )

    @post(
        "/history_remove",
        status_code=HTTP_200_OK,
        summary="Remove a channel's history (admin)",
        description="The whole Redis history of the channel goes; its offset and epoch stay, "
        "so SDKs recovering across it get `recovered: false` and reload from REST.",
    )
    async def history_remove(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[ChannelIn]
    ) -> RemovedOut:
        engine = await _engine(request)
        removed = await engine.history_remove(_known(engine, data.channel))
        return RemovedOut(channel=data.channel, removed=removed)

    @get(
        "/nodes",
        summary="Hub processes with their connection and channel counts (admin)",
        description="Each process reports every 5 s; one silent for 15 s is gone.",
    )
    async def nodes(self, request: Request[CurrentUser, Any, Any]) -> NodesOut:
        engine = await _engine(request)
        nodes = [msgspec.convert(n, NodeOut) for n in await engine.nodes()]
        return NodesOut(nodes=nodes, connections=sum(n.connections for n in nodes))
