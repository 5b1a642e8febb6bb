"""Hostile or sloppy bodies are clear 4xx answers, never a 500 or a traceback in the logs."""

from __future__ import annotations

import uuid

import pytest

from tests.problems import assert_problem
from tests.runs.helpers import make_prompt, wallet

JSON = {"content-type": "application/json"}
DEPTH = 3000


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "path, body",
    [
        ("/auth/login", '{"email": "a@example.com", "password": ' + _nested(DEPTH) + "}"),
        ("/auth/register", _nested(DEPTH)),
        ("/prompts", '{"title": "x", "unknown": ' + _nested(DEPTH) + "}"),
        ("/prompts/{prompt}/runs", '{"inputs": {"topic": ' + _nested(DEPTH) + "}}"),
        ("/prompts/{prompt}/runs", '{"inputs": {}, "extra": ' + _nested(DEPTH) + "}"),
    ],
)
async def test_deeply_nested_json_is_a_400_without_a_traceback(client, register, capfd, path, body):
    creator = await register()
    prompt = await make_prompt(client, creator)
    capfd.readouterr()
    headers = {**JSON, **creator.headers, "Idempotency-Key": str(uuid.uuid4())}
    r = await client.post(path.format(prompt=prompt["id"]), content=body, headers=headers)
    assert_problem(r, 400)
    logs = capfd.readouterr().err
    assert "Traceback" not in logs and "unhandled_error" not in logs, logs[-2000:]
    assert (await client.get("/me/runs", headers=creator.headers)).json()["items"] == []


async def test_a_string_where_an_integer_is_expected_is_a_400_naming_it(client, register):
    creator = await register()
    body = {
        "title": "Typed prompt",
        "template": "About {{topic}}.",
        "model": "demo",
        "price_cents": "10",
    }
    r = await client.post("/prompts", json=body, headers=creator.headers)
    problem = assert_problem(r, 400, "price_cents")
    assert problem["extra"][0]["key"] == "price_cents"
    prompt = await make_prompt(client, creator)
    r = await client.patch(
        f"/prompts/{prompt['id']}", json={"price_cents": "10"}, headers=creator.headers
    )
    assert_problem(r, 400, "price_cents")
    r = await client.post(
        f"/prompts/{prompt['id']}/runs",
        json={"inputs": {"topic": "x"}, "max_tokens": "20"},
        headers={**creator.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert_problem(r, 400, "max_tokens")
    r = await client.post("/auth/logout", json={"everywhere": "true"}, headers=creator.headers)
    assert_problem(r, 400, "everywhere")


async def test_nul_in_a_run_input_is_a_422_naming_the_input(client, register):
    creator = await register()
    buyer = await register()
    prompt = await make_prompt(client, creator)
    r = await client.post(
        f"/prompts/{prompt['id']}/runs",
        json={"inputs": {"topic": "nul \x00 inside"}},
        headers={**buyer.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    problem = assert_problem(r, 422, "inputs.topic")
    assert problem["invalid_params"][0]["name"] == "inputs.topic"
    w = await wallet(client, buyer)
    assert (w["balance_cents"], w["held_cents"]) == (500, 0)
