"""Demo marketplace for `make run`: prompts by alice and carol (one of each private), samples,
follows and reviews. Idempotent: prompts are found by (creator, title), follows and reviews
are unique per pair. Reviews are demo data written directly (the seed has no completed runs).
"""

from __future__ import annotations

import uuid

import structlog

from hub.community import service as community
from hub.platform.db import fetch, fetchrow, transaction
from hub.prompts import samples as prompt_samples
from hub.prompts import service as prompts
from hub.prompts.schemas import PromptCreate, SampleCreate

log = structlog.get_logger(__name__)

DEMO_PROMPTS: list[tuple[str, dict, list[str]]] = [
    (
        "alice",
        {
            "title": "Haiku about anything",
            "description": "A three-line haiku on the topic you give, in a classic 5-7-5 shape.",
            "template": "Write a haiku (5-7-5 syllables) about {{topic}}. Reply with the haiku only.",
            "price_cents": 0,
            "tags": ["poetry", "haiku", "free"],
            "sample_inputs": {"topic": "autumn rain"},
        },
        ["Soft autumn rain falls\nOn the roofs of sleeping towns\nThe gutters hum low"],
    ),
    (
        "alice",
        {
            "title": "Cold email that gets replies",
            "description": "A short, specific cold email for B2B outreach. Private Mode: the "
            "method stays secret, you get the email.",
            "template": "You are a senior SDR. Using the AIDA method with one concrete proof "
            "point and a soft CTA, write a cold email under 120 words to {{recipient_role}} "
            "at {{company}} about {{offer}}.",
            "price_cents": 25,
            "private_mode": True,
            "tags": ["sales", "email", "b2b"],
            "sample_inputs": {
                "recipient_role": "Head of Data",
                "company": "Acme",
                "offer": "a data-quality audit",
            },
        },
        ["Subject: A 20-minute data-quality check for Acme\n\nHi Sam, ..."],
    ),
    (
        "carol",
        {
            "title": "Code review checklist",
            "description": "Reviews a code snippet for bugs, readability and security.",
            "template": "Review this {{language}} code. List bugs, then readability issues, then "
            "security concerns, each with a fix:\n\n{{code}}",
            "price_cents": 10,
            "leak_guard": True,  # public, yet its runs' output passes the leak guard
            "tags": ["code", "review", "python"],
            "sample_inputs": {"language": "Python", "code": "def add(a, b): return a - b"},
        },
        ["Bugs: `add` subtracts; return `a + b`.\nReadability: add type hints."],
    ),
    (
        "carol",
        {
            "title": "Product description writer",
            "description": "Turns bullet points into a persuasive product description.",
            "template": "Write a 60-word product description for {{product}} for {{audience}}, "
            "highlighting: {{features}}. Tone: warm, concrete, no superlatives.",
            "price_cents": 15,
            "private_mode": True,
            "tags": ["ecommerce", "copywriting"],
        },
        [],
    ),
]

DEMO_FOLLOWS = [("bob", "alice"), ("bob", "carol"), ("carol", "alice")]
DEMO_REVIEWS = [
    ("bob", "Haiku about anything", 5, "Lovely every time."),
    ("bob", "Code review checklist", 4, "Caught a real bug in my snippet."),
    ("carol", "Haiku about anything", 4, ""),
]


async def _user_id(handle: str) -> str | None:
    row = await fetchrow(
        "SELECT id FROM users WHERE lower(handle) = lower($1) AND deleted_at IS NULL", handle
    )
    return str(row["id"]) if row else None


async def _prompt_id(owner_id: str, title: str) -> uuid.UUID | None:
    row = await fetchrow(
        "SELECT id FROM prompts WHERE owner_id = $1 AND title = $2", uuid.UUID(owner_id), title
    )
    return row["id"] if row else None


async def seed() -> None:
    created = 0
    for handle, body, samples in DEMO_PROMPTS:
        owner = await _user_id(handle)
        if owner is None or await _prompt_id(owner, body["title"]):
            continue
        prompt = await prompts.create_prompt(owner, PromptCreate(**body))
        for output in samples:
            await prompt_samples.add_sample(
                uuid.UUID(prompt.id),
                owner,
                SampleCreate(output=output, inputs=dict(body.get("sample_inputs", {}))),
            )
        created += 1
    for follower, creator in DEMO_FOLLOWS:
        follower_id = await _user_id(follower)
        if follower_id and await _user_id(creator):
            await community.follow(follower_id, creator)
    for handle, title, rating, text in DEMO_REVIEWS:
        user = await _user_id(handle)
        prompt_id = None
        for owner_handle, body, _ in DEMO_PROMPTS:
            if body["title"] == title:
                owner = await _user_id(owner_handle)
                prompt_id = await _prompt_id(owner, title) if owner else None
        if user is None or prompt_id is None:
            continue
        async with transaction():
            inserted = await fetch(
                "INSERT INTO reviews (prompt_id, user_id, rating, body) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (prompt_id, user_id) DO NOTHING RETURNING id",
                prompt_id,
                uuid.UUID(user),
                rating,
                text,
            )
            if inserted:
                await fetch(
                    "UPDATE prompts SET rating_sum = rating_sum + $2, "
                    "rating_count = rating_count + 1 WHERE id = $1",
                    prompt_id,
                    rating,
                )
    log.info("seed.marketplace", prompts_created=created)
