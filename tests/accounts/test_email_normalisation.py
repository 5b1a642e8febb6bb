"""Emails are normalised once (NFKC + case-fold): one address, one account, one lockout."""

from __future__ import annotations

from hub.accounts.emails import normalise_email
from tests.conftest import unique
from tests.problems import assert_problem


def test_normal_form():
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalise_email("ａｄａ@ｅｘａｍｐｌｅ.com") == "ada@example.com"  # full-width
    assert normalise_email("STRASSE@x.de") == normalise_email("straße@x.de") == "strasse@x.de"


async def test_stored_normalised_and_found_in_any_spelling(client, register):
    name = unique("Ada")
    acct = await register(email=f"{name}@Example.COM")
    assert acct["user"]["email"] == f"{name.lower()}@example.com"
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in name.upper())
    r = await client.post(
        "/auth/login", json={"email": f"{wide}@EXAMPLE.com", "password": acct["password"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == acct.id
    dup = await client.post(
        "/auth/register",
        json={
            "email": f"{name.upper()}@example.com",
            "password": "whatever123",
            "handle": unique("h_"),
        },
    )
    assert assert_problem(dup, 409)["type"].endswith("/email-taken")


async def test_one_lockout_whatever_the_spelling(client, register):
    victim = await register(email=f"{unique('victim')}@example.com")
    local, domain = victim["email"].split("@")
    for _ in range(5):
        r = await client.post(
            "/auth/login", json={"email": victim["email"], "password": "wrong guess!"}
        )
        assert r.status_code == 401
    for spelling in (victim["email"].upper(), f" {local.capitalize()}@{domain.upper()} "):
        r = await client.post(
            "/auth/login", json={"email": spelling, "password": victim["password"]}
        )
        assert_problem(r, 429)
    # A dotted capital I is not the same address: it reaches no account at all, so it cannot
    # be used for more guesses at the victim's password.
    dotted = local.replace("i", "İ", 1)  # vİctim…
    r = await client.post(
        "/auth/login", json={"email": f"{dotted}@{domain}", "password": victim["password"]}
    )
    assert_problem(r, 401)
