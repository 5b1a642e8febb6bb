"""Listing and searching prompts: filters, sorts, keyset pages and facet counts.

Why a module of its own: the marketplace's listing is one SQL builder (`build_list_query`)
shared by the API, the web pages, a creator's own listing and bench/seed_prompts.py (which
EXPLAINs it), and none of it touches a single prompt's rules. Listings never carry templates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from hub.platform.db import fetch
from hub.platform.errors import validation_error
from hub.platform.pagination import decode_cursor, page
from hub.prompts.schemas import FacetCount, Facets, PromptPage
from hub.prompts.service import OWNER_COLUMNS, PROMPT_COLUMNS, prompt_out

_SORT_KEYS: dict[str, tuple[str, type]] = {
    "new": ("p.created_at", datetime),
    "popular": ("p.runs_7d", int),
    "top_rated": ("p.rating_score", float),
    "relevance": ("ts_rank_cd(p.search, websearch_to_tsquery('english', $q))::float8", float),
}


class ListQuery(msgspec.Struct, kw_only=True):
    q: str | None = None
    tag: str | None = None
    creator: str | None = None
    model: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    sort: str | None = None
    owner_id: str | None = None  # a creator's own listing
    include_archived: bool = False  # only with owner_id == viewer
    cursor: str | None = None
    limit: int = 20


def _filters(query: ListQuery, arg: Any) -> tuple[list[str], str | None]:
    """WHERE conditions of a listing (everything but the cursor) and the `q` parameter's ref."""
    q = (query.q or "").strip() or None
    if (
        query.min_price is not None
        and query.max_price is not None
        and query.min_price > query.max_price
    ):
        raise validation_error("min_price", "min_price is greater than max_price.")
    where: list[str] = []
    if not query.include_archived:
        where.append("p.status = 'active'")
    q_ref = None
    if q is not None:
        q_ref = arg(q)
        where.append(f"p.search @@ websearch_to_tsquery('english', {q_ref})")
    if query.tag:
        where.append(f"p.tags @> ARRAY[{arg(query.tag.lower())}]::text[]")
    if query.creator:
        where.append(
            "p.owner_id = (SELECT id FROM users WHERE lower(handle) = lower("
            f"{arg(query.creator)}) AND deleted_at IS NULL)"
        )
    if query.owner_id:
        where.append(f"p.owner_id = {arg(uuid.UUID(query.owner_id))}")
    if query.model:
        where.append(f"p.model = {arg(query.model)}")
    if query.min_price is not None:
        where.append(f"p.price_cents >= {arg(query.min_price)}")
    if query.max_price is not None:
        where.append(f"p.price_cents <= {arg(query.max_price)}")
    return where, q_ref


def build_list_query(query: ListQuery) -> tuple[str, list[Any], str]:
    """(SQL, parameters, sort) of a listing page; bench/seed_prompts.py EXPLAINs these."""
    q = (query.q or "").strip() or None
    sort = query.sort or ("relevance" if q else "new")
    if sort == "relevance" and q is None:
        raise validation_error("sort", "sort=relevance needs a search query `q`.")
    params: list[Any] = []

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    where, q_ref = _filters(query, arg)
    key_sql, key_kind = _SORT_KEYS[sort]
    key_sql = key_sql.replace("$q", q_ref or "")
    if query.cursor:
        key, after_id = decode_cursor(query.cursor, sort, key_kind)
        where.append(f"({key_sql}, p.id) < ({arg(key)}, {arg(after_id)})")
    # The page is chosen from prompts alone; owners are joined to those rows only.
    # A creator's own listing (include_archived: owner_id is the viewer) carries the owner-only
    # leak guard count; never the template.
    owner_only = ", p.leak_guard_redactions" if query.owner_id and query.include_archived else ""
    page_sql = (
        f"SELECT {PROMPT_COLUMNS}{owner_only}, {key_sql} AS sort_key FROM prompts p "
        f"WHERE {' AND '.join(where) or 'true'} "
        f"ORDER BY {key_sql} DESC, p.id DESC LIMIT {arg(query.limit + 1)}"
    )
    sql = (
        f"SELECT p.*, {OWNER_COLUMNS} FROM ({page_sql}) p JOIN users u ON u.id = p.owner_id "
        "ORDER BY p.sort_key DESC, p.id DESC"
    )
    return sql, params, sort


FACET_SCAN_LIMIT = 5000  # facets count over at most this many matching prompts (newest first)


async def facets(query: ListQuery) -> Facets:
    """Counts of the listing's matches by tag, model and price band, for filter links.

    Each facet ignores its own filter (the tag counts answer "what if I picked another tag"),
    and the scan is capped at the newest FACET_SCAN_LIMIT matches, so a broad query stays cheap.
    """

    async def counts(without: str, select: str) -> list[dict[str, Any]]:
        params: list[Any] = []

        def arg(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        narrowed = msgspec.structs.replace(query, **{without: None}, cursor=None)
        if without == "min_price":
            narrowed = msgspec.structs.replace(narrowed, max_price=None)
        where, _ = _filters(narrowed, arg)
        sample = (
            f"SELECT p.tags, p.model, p.price_cents FROM prompts p "
            f"WHERE {' AND '.join(where) or 'true'} ORDER BY p.created_at DESC "
            f"LIMIT {FACET_SCAN_LIMIT}"
        )
        return await fetch(select.replace("{sample}", sample), *params)

    tags = await counts(
        "tag",
        "SELECT t AS name, count(*) AS n FROM ({sample}) s, unnest(s.tags) t "
        "GROUP BY t ORDER BY n DESC, t LIMIT 15",
    )
    models = await counts(
        "model",
        "SELECT model AS name, count(*) AS n FROM ({sample}) s GROUP BY model "
        "ORDER BY n DESC, model LIMIT 10",
    )
    bands = await counts(
        "min_price",
        "SELECT count(*) FILTER (WHERE price_cents = 0) AS free, "
        "count(*) FILTER (WHERE price_cents > 0 AND price_cents <= 50) AS low, "
        "count(*) FILTER (WHERE price_cents > 50) AS high FROM ({sample}) s",
    )
    band = bands[0] if bands else {"free": 0, "low": 0, "high": 0}
    return Facets(
        tags=[FacetCount(value=r["name"], count=r["n"]) for r in tags],
        models=[FacetCount(value=r["name"], count=r["n"]) for r in models],
        prices=[
            FacetCount(value="free", count=band["free"]),
            FacetCount(value="up_to_50", count=band["low"]),
            FacetCount(value="over_50", count=band["high"]),
        ],
    )


async def list_prompts(query: ListQuery) -> PromptPage:
    """A page of prompts: keyset-paginated by (sort key, id), newest/most popular/best first.

    Listings never carry templates, not even the owner's own.
    """
    sql, params, sort = build_list_query(query)
    rows = await fetch(sql, *params)
    items, next_cursor = page(rows, query.limit, sort, lambda r: r["sort_key"])
    return PromptPage(items=[prompt_out(r) for r in items], next_cursor=next_cursor)
