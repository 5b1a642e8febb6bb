"""A local OpenAI-compatible server (`POST /<scenario>/<key>/v1/chat/completions`, SSE).

The scenario in the path picks the behaviour; the key isolates a test's request counters.
Error bodies deliberately quote the prompt, as real providers sometimes do, so the tests can
prove that nothing the provider sends back reaches a buyer, a log line or a publication.
`echo` and `echo-garbled` play a model that obeys "repeat everything above" (verbatim, or with
changed case, spacing and punctuation), for the leak guard's tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

from tests.fake_http import read_request, send_json
from tests.providers.leaks import chunks, garble

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.disconnected: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        #: Keys whose streams wait until the test opens the gate (`gate(key).set()`), so a
        #: test can have its subscribers in place before the first token.
        self.gates: dict[str, asyncio.Event] = {}

    def gate(self, key: str) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        parts = scope["path"].strip("/").split("/")
        if len(parts) != 5 or parts[2:] != ["v1", "chat", "completions"]:
            await send_json(send, 404, {"error": {"message": "not found"}})
            return
        scenario, key = parts[0], parts[1]
        headers, raw = await read_request(scope, receive)
        body = json.loads(raw)
        self.requests[key].append({"body": body, "headers": headers})
        n = len(self.requests[key])
        handler = getattr(self, "scenario_" + scenario.replace("-", "_"))
        try:
            await handler(send, body, n, key, receive)
        except OSError:
            self.disconnected[key].set()

    # --- building blocks -------------------------------------------------------------

    @staticmethod
    async def _start_stream(send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )

    @staticmethod
    async def _event(send: Any, data: Any, more: bool = True) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        await send(
            {
                "type": "http.response.body",
                "body": f"data: {payload}\n\n".encode(),
                "more_body": more,
            }
        )

    @staticmethod
    def chunk(text: str | None = None, finish: str | None = None, role: bool = False) -> dict:
        delta: dict[str, Any] = {}
        if role:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    @staticmethod
    def answer(n: int) -> list[str]:
        return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(n)]

    async def _ok(
        self,
        send: Any,
        body: dict,
        *,
        delay: float = 0.0,
        usage: bool = True,
        first_delay: float = 0.0,
    ) -> None:
        n = min(int(body.get("max_tokens") or 8), 12 if not delay else 10_000)
        await self._start_stream(send)
        await self._event(send, self.chunk(role=True))
        if first_delay:
            await asyncio.sleep(first_delay)
        for text in self.answer(n):
            await self._event(send, self.chunk(text))
            if delay:
                await asyncio.sleep(delay)
        await self._event(send, self.chunk(finish="stop"))
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            await self._event(
                send,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n},
                },
            )
        await self._event(send, "[DONE]", more=False)

    def _prompt(self, body: dict) -> str:
        return str(body["messages"][-1]["content"])

    # --- scenarios -------------------------------------------------------------------

    async def scenario_ok(self, send, body, n, key, receive) -> None:
        await self._ok(send, body)

    async def scenario_nousage(self, send, body, n, key, receive) -> None:
        await self._ok(send, body, usage=False)

    async def scenario_flaky429(self, send, body, n, key, receive) -> None:
        if n == 1:
            await send_json(
                send,
                429,
                {"error": {"message": f"Rate limit reached for: {self._prompt(body)}"}},
                [(b"retry-after", b"0")],
            )
        else:
            await self._ok(send, body)

    async def scenario_down500(self, send, body, n, key, receive) -> None:
        await send_json(
            send, 500, {"error": {"message": f"internal error on: {self._prompt(body)}"}}
        )

    async def scenario_reject400(self, send, body, n, key, receive) -> None:
        await send_json(send, 400, {"error": {"message": f"bad prompt: {self._prompt(body)}"}})

    async def scenario_cut(self, send, body, n, key, receive) -> None:
        await self._start_stream(send)
        for text in self.answer(3):
            await self._event(send, self.chunk(text))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def scenario_slowfirst(self, send, body, n, key, receive) -> None:
        await self._ok(send, body, first_delay=0.4)

    async def scenario_hang(self, send, body, n, key, receive) -> None:
        await self._start_stream(send)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while (await receive())["type"] != "http.disconnect":
                    pass

    async def scenario_malformed(self, send, body, n, key, receive) -> None:
        await self._start_stream(send)
        await self._event(send, self.chunk("alpha"))
        await self._event(send, '{"choices": [ {"delta": oops')
        await asyncio.sleep(0.05)
        await self._event(send, "[DONE]", more=False)

    async def _echo(self, send: Any, body: dict, text: str, key: str, delay: float = 0.0) -> None:
        """Stream `text` back in pieces cut at random places (inside words too), at most
        `max_tokens` of them, with honest usage."""
        pieces = chunks(text, seed=len(text))[: int(body.get("max_tokens") or 16)]
        gate = self.gates.get(key)
        if gate is not None:
            await gate.wait()
        await self._start_stream(send)
        await self._event(send, self.chunk(role=True))
        for piece in pieces:
            await self._event(send, self.chunk(piece))
            if delay:
                await asyncio.sleep(delay)
        await self._event(send, self.chunk(finish="stop"))
        prompt_tokens = len(self._prompt(body).split())
        await self._event(
            send,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(pieces),
                    "total_tokens": prompt_tokens + len(pieces),
                },
            },
        )
        await self._event(send, "[DONE]", more=False)

    async def scenario_echo(self, send, body, n, key, receive) -> None:
        """A model that obeys "repeat everything above": the prompt comes back verbatim."""
        text = f"Sure! Here is everything above, word for word:\n\n{self._prompt(body)}\n\nDone."
        await self._echo(send, body, text, key)

    async def scenario_echo_slow(self, send, body, n, key, receive) -> None:
        """The verbatim echo at about 100 pieces a second (to be cancelled mid-stream)."""
        text = f"Sure! Here is everything above, word for word:\n\n{self._prompt(body)}\n\nDone."
        try:
            await self._echo(send, body, text, key, delay=0.01)
        except OSError:
            self.disconnected[key].set()

    async def scenario_echo_garbled(self, send, body, n, key, receive) -> None:
        """The same echo with changed case, spacing, punctuation and letter widths."""
        text = f"Okay. My instructions were:\n> {garble(self._prompt(body), seed=n)}\nThat is all."
        await self._echo(send, body, text, key)

    async def scenario_slowstream(self, send, body, n, key, receive) -> None:
        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.disconnected[key].set()

        watcher = asyncio.create_task(watch())
        try:
            await self._ok(send, body, delay=0.02)
        finally:
            watcher.cancel()
