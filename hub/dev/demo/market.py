"""Demo data of the marketplace's depth for `make run`: images on the demo samples (drawn here
with Pillow, nothing downloaded), alice's monthly plan, recommendations computed once.
Idempotent: a sample that already has images, or a plan that exists, is left alone."""

from __future__ import annotations

import io
import math
import uuid

import structlog
from PIL import Image, ImageDraw

from hub.platform.db import fetch

log = structlog.get_logger(__name__)

# (creator, prompt title) -> what to draw, and its alt text.
DEMO_IMAGES: list[tuple[str, str, str, str]] = [
    ("alice", "Haiku about anything", "rain", "Rain falling on dark roofs under a dusk sky"),
    ("alice", "Haiku about anything", "moon", "A pale moon over a quiet town"),
]


def draw(kind: str, width: int = 960, height: int = 600) -> bytes:
    """A small illustration: a dusk gradient with rain streaks, or a moon over roofs."""
    img = Image.new("RGB", (width, height))
    px = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        px.line([(0, y), (width, y)], fill=(int(40 + 60 * t), int(50 + 40 * t), int(110 - 30 * t)))
    roofs = [(i * 120, height - 120 - (i * 37) % 90) for i in range(width // 120 + 1)]
    for x, top in roofs:
        px.polygon(
            [(x, height), (x, top + 30), (x + 60, top), (x + 120, top + 30), (x + 120, height)],
            fill=(25, 25, 35),
        )
    if kind == "rain":
        for i in range(260):
            x = (i * 73) % width
            y = (i * 131) % (height - 80)
            px.line([(x, y), (x - 6, y + 22)], fill=(170, 190, 230), width=2)
    else:
        cx, cy, r = int(width * 0.72), int(height * 0.25), 60
        px.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(245, 240, 210))
        for i in range(40):
            a = i * 2 * math.pi / 40
            px.point(
                (int(cx + 140 * math.cos(a)), int(cy + 90 * math.sin(a))), fill=(255, 255, 255)
            )
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def seed_images() -> int:
    from hub.media.service import add_media

    added = 0
    for handle, title, kind, alt in DEMO_IMAGES:
        rows = await fetch(
            "SELECT p.id AS prompt_id, p.owner_id, s.id AS sample_id, "
            "(SELECT count(*) FROM sample_media m WHERE m.sample_id = s.id) AS images "
            "FROM prompts p JOIN users u ON u.id = p.owner_id "
            "JOIN prompt_samples s ON s.prompt_id = p.id "
            "WHERE u.handle = $1 AND p.title = $2 ORDER BY s.created_at LIMIT 1",
            handle,
            title,
        )
        if not rows:
            continue
        row = rows[0]
        already = await fetch(
            "SELECT 1 FROM sample_media WHERE sample_id = $1 AND alt = $2", row["sample_id"], alt
        )
        if already:
            continue
        await add_media(
            uuid.UUID(str(row["prompt_id"])),
            uuid.UUID(str(row["sample_id"])),
            str(row["owner_id"]),
            draw(kind),
            alt,
        )
        added += 1
    return added


async def seed_plan() -> bool:
    """alice offers a monthly plan. Without Stripe keys (`make run`) it has no Stripe Price
    (`price_demo`): the creator page shows it, and subscribing answers that payments are not
    configured. With keys, alice sets it up for real from her dashboard."""
    row = await fetch("SELECT id FROM users WHERE handle = 'alice' AND deleted_at IS NULL")
    if not row:
        return False
    inserted = await fetch(
        "INSERT INTO subscription_plans (creator_id, price_cents, runs_included, "
        "stripe_product_id, stripe_price_id) VALUES ($1, 500, 10, 'prod_demo', 'price_demo') "
        "ON CONFLICT (creator_id) DO NOTHING RETURNING creator_id",
        row[0]["id"],
    )
    return bool(inserted)


async def seed_recommendations() -> dict[str, int]:
    """Compute every list once, so "More like this" and "For you" show at the first visit."""
    from hub.recommendations.compute import refresh_batch

    return await refresh_batch(10_000)


async def seed() -> None:
    added = await seed_images()
    plan = await seed_plan()
    lists = await seed_recommendations()
    log.info("seed.market", images=added, plan=plan, **lists)
