"""JSON and Protobuf codecs of the Centrifuge client protocol v2.

Both codecs decode a websocket frame into `Command`s with plain Python params (JSON names,
`data` as raw bytes for Protobuf or a decoded JSON value for JSON) and encode replies/pushes
into *items*: one `str` line (JSON) or one varint-length-prefixed `bytes` message (Protobuf).
A connection's writer joins queued items into one frame: JSON with "\\n", Protobuf by
concatenation. Publication pushes are encoded once per publication and encoding by
`pub_push_json` / `pub_push_protobuf` and shared among all subscribers.
"""

from __future__ import annotations

from typing import Any

import msgspec
from google.protobuf.message import DecodeError

from realtime.errors import BadRequest, ProtocolError
from realtime.protocol import client_pb2 as pb

METHODS = (
    "connect",
    "subscribe",
    "unsubscribe",
    "publish",
    "presence",
    "presence_stats",
    "history",
    "ping",
    "send",
    "rpc",
    "refresh",
    "sub_refresh",
)

_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


class Command:
    """One decoded client command. `method` None with id 0 is a pong (empty command)."""

    __slots__ = ("id", "method", "params")

    def __init__(self, id: int, method: str | None, params: dict[str, Any]) -> None:
        self.id = id
        self.method = method
        self.params = params

    def __repr__(self) -> str:
        return f"Command(id={self.id}, method={self.method!r}, params={self.params!r})"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise BadRequest("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


# --- JSON ---------------------------------------------------------------------------------


class JsonCodec:
    name = "json"
    binary = False
    ping_item = "{}"

    @staticmethod
    def decode(frame: str | bytes) -> list[Command]:
        if isinstance(frame, str):
            frame = frame.encode()
        commands = []
        for line in frame.split(b"\n"):
            if not line.strip():
                continue
            try:
                obj = _json_decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError) as e:
                raise BadRequest("invalid JSON") from e
            except RecursionError as e:  # thousands of nested arrays/objects
                raise BadRequest("JSON nested too deeply") from e
            if not isinstance(obj, dict):
                raise BadRequest("command must be an object")
            cid = obj.get("id", 0)
            if type(cid) is not int or cid < 0 or cid > 0xFFFFFFFF:
                raise BadRequest("invalid id")
            method = None
            params: Any = {}
            for m in METHODS:
                value = obj.get(m)
                if value is not None:
                    method = m
                    params = value
                    break
            if not isinstance(params, dict):
                raise BadRequest("params must be an object")
            commands.append(Command(cid, method, params))
        return commands

    @staticmethod
    def reply(cid: int, key: str, result: dict[str, Any]) -> str:
        return _json_encode({"id": cid, key: result}).decode()

    @staticmethod
    def error(cid: int, err: ProtocolError) -> str:
        body: dict[str, Any] = {"code": err.code, "message": err.message}
        if err.temporary:
            body["temporary"] = True
        return _json_encode({"id": cid, "error": body}).decode()

    @staticmethod
    def push(channel: str, key: str, body: dict[str, Any]) -> str:
        return _json_encode({"push": {"channel": channel, key: body}}).decode()

    @staticmethod
    def data_value(data: Any) -> Any:
        """A client-sent `data` field as a Python value (JSON has it decoded already)."""
        return data

    @staticmethod
    def join(items: list[str]) -> str:
        return "\n".join(items)


def json_channel_prefix(channel: str) -> str:
    return '{"push":{"channel":' + _json_encode(channel).decode() + ',"pub":{"data":'


def pub_push_json(prefix: str, data: str, offset: int) -> str:
    """`{"push":{"channel":C,"pub":{"data":D,"offset":N}}}` from a cached prefix; D is raw JSON."""
    return f'{prefix}{data},"offset":{offset}}}}}}}'


def pub_push_json_delta(
    prefix: str, payload: bytes, offset: int, info: bytes | None, delta: bool
) -> str:
    """A publication for a fossil-delta subscriber: `data` is a JSON string holding the full
    JSON text or the delta (both UTF-8 text), `delta` says which."""
    text = _json_encode(payload.decode()).decode()
    tail = f',"info":{info.decode()}' if info is not None else ""
    flag = ',"delta":true' if delta else ""
    return f'{prefix}{text}{tail},"offset":{offset}{flag}}}}}}}'


def pub_push_json_info(prefix: str, data: str, offset: int, info: str) -> str:
    """As `pub_push_json`, with the publishing client's `info` (raw JSON ClientInfo)."""
    return f'{prefix}{data},"info":{info},"offset":{offset}}}}}}}'


# --- Protobuf -----------------------------------------------------------------------------


def _to_params(msg: Any) -> dict[str, Any]:
    """A request message as a dict of its set fields (nested messages and maps converted)."""
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        if fd.message_type is not None:
            if fd.message_type.GetOptions().map_entry:
                value_fd = fd.message_type.fields_by_name["value"]
                if value_fd.message_type is not None:
                    out[fd.name] = {k: _to_params(v) for k, v in value.items()}
                else:
                    out[fd.name] = dict(value)
            elif fd.is_repeated:
                out[fd.name] = [_to_params(v) for v in value]
            else:
                out[fd.name] = _to_params(value)
        else:
            out[fd.name] = value
    return out


def _fill(msg: Any, values: dict[str, Any]) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    for key, value in values.items():
        if value is None:
            continue
        fd = fields[key]
        if fd.message_type is not None:
            target = getattr(msg, key)
            if fd.message_type.GetOptions().map_entry:
                value_fd = fd.message_type.fields_by_name["value"]
                for mk, mv in value.items():
                    if value_fd.message_type is not None:
                        _fill(target[mk], mv)
                    else:
                        target[mk] = mv
            elif fd.is_repeated:
                for item in value:
                    _fill(target.add(), item)
            else:
                target.SetInParent()
                _fill(target, value)
        elif fd.is_repeated:
            getattr(msg, key).extend(value)
        else:
            if isinstance(value, msgspec.Raw):
                value = bytes(value)
            setattr(msg, key, value)


def _framed(msg: Any) -> bytes:
    body = msg.SerializeToString()
    return varint(len(body)) + body


class ProtobufCodec:
    name = "protobuf"
    binary = True
    ping_item = b"\x00"

    @staticmethod
    def decode(frame: bytes) -> list[Command]:
        commands = []
        pos = 0
        n = len(frame)
        while pos < n:
            length, pos = read_varint(frame, pos)
            end = pos + length
            if end > n:
                raise BadRequest("truncated message")
            try:
                cmd = pb.Command.FromString(frame[pos:end])
            except (DecodeError, RuntimeWarning, ValueError) as e:
                raise BadRequest("invalid protobuf") from e
            pos = end
            method = None
            params: dict[str, Any] = {}
            for m in METHODS:
                if cmd.HasField(m):
                    method = m
                    params = _to_params(getattr(cmd, m))
                    break
            commands.append(Command(cmd.id, method, params))
        return commands

    @staticmethod
    def reply(cid: int, key: str, result: dict[str, Any]) -> bytes:
        msg = pb.Reply(id=cid)
        target = getattr(msg, key)
        target.SetInParent()
        _fill(target, result)
        return _framed(msg)

    @staticmethod
    def error(cid: int, err: ProtocolError) -> bytes:
        msg = pb.Reply(id=cid)
        msg.error.code = err.code
        msg.error.message = err.message
        msg.error.temporary = err.temporary
        return _framed(msg)

    @staticmethod
    def push(channel: str, key: str, body: dict[str, Any]) -> bytes:
        msg = pb.Reply()
        msg.push.channel = channel
        target = getattr(msg.push, key)
        target.SetInParent()
        _fill(target, body)
        return _framed(msg)

    @staticmethod
    def data_value(data: Any) -> Any:
        """Protobuf carries `data` as bytes; the hub's payloads are JSON documents."""
        if not data:
            return None
        try:
            return _json_decode(data)
        except msgspec.DecodeError as e:
            raise ValueError("data is not JSON") from e
        except RecursionError as e:  # as in a JSON frame: a protocol violation, close 3501
            raise BadRequest("data nested too deeply") from e

    @staticmethod
    def join(items: list[bytes]) -> bytes:
        return b"".join(items)


def pb_channel_field(channel: str) -> bytes:
    raw = channel.encode()
    return b"\x12" + varint(len(raw)) + raw  # Push.channel = 2


def client_info_protobuf(info_json: bytes) -> bytes:
    """A ClientInfo message (user=1, client=2, conn_info=3 as JSON bytes) from the info JSON the
    broker carries; b"" when it is not a JSON object."""
    try:
        info = _json_decode(info_json)
    except (msgspec.DecodeError, RecursionError):
        return b""
    if not isinstance(info, dict):
        return b""
    out = b""
    for field, key in ((b"\x0a", "user"), (b"\x12", "client")):
        value = str(info.get(key) or "").encode()
        if value:
            out += field + varint(len(value)) + value
    if info.get("conn_info") is not None:
        conn = _json_encode(info["conn_info"])
        out += b"\x1a" + varint(len(conn)) + conn
    return out


def pub_push_protobuf(
    channel_field: bytes,
    data: bytes,
    offset: int,
    info_pb: bytes | None = None,
    delta: bool = False,
) -> bytes:
    """A length-prefixed Reply{push{channel, pub{data, info, offset, delta}}} built without
    message objects (`info_pb`: an encoded ClientInfo, for client publications)."""
    pub = b"\x22" + varint(len(data)) + data  # data = 4
    if info_pb:
        pub += b"\x2a" + varint(len(info_pb)) + info_pb  # info = 5
    pub += b"\x30" + varint(offset)  # offset = 6
    if delta:
        pub += b"\x40\x01"  # delta = 8
    push = channel_field + b"\x22" + varint(len(pub)) + pub  # Push.pub = 4
    reply = b"\x22" + varint(len(push)) + push  # Reply.push = 4
    return varint(len(reply)) + reply


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A complete unmasked server-to-client websocket frame (FIN set): 1 text, 2 binary."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def disconnect_push(code: int, reason: str, protobuf: bool) -> Any:
    """A `disconnect` push (no channel): how emulated transports, which have no close frame,
    tell the SDK why the stream ends and whether to reconnect."""
    if protobuf:
        msg = pb.Reply()
        msg.push.disconnect.code = code
        msg.push.disconnect.reason = reason
        return _framed(msg)
    return _json_encode({"push": {"disconnect": {"code": code, "reason": reason}}}).decode()
