"""Full pages at shareable URLs. They render public data only; personal parts are fragments
(hub.web.fragments) that htmx loads with the visitor's Bearer token."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, Parameter
from litestar.response import Template

from hub.community import reviews as community_reviews
from hub.community import service as community
from hub.platform.errors import Problem
from hub.prompts import listing as prompt_listing
from hub.prompts import samples as prompt_samples
from hub.prompts import service as prompts
from hub.prompts.schemas import Facets, PromptPage
from hub.rooms import service as rooms
from hub.runs import queries as runs
from hub.web.render import page

Q = Annotated[str | None, Parameter(max_length=200, required=False)]
Short = Annotated[str | None, Parameter(max_length=64, required=False)]
Cents = Annotated[int | None, Parameter(ge=0, le=100_000, required=False)]
SORTS = {
    "new": "Newest",
    "popular": "Popular this week",
    "top_rated": "Top rated",
    "relevance": "Best match",
}


def not_found_page(what: str) -> Template:
    return page("not_found.html", status_code=404, what=what)


async def _safe(coro: Any, default: Any) -> Any:
    """A failing section becomes an empty one (the page still renders, with an error note)."""
    try:
        return await coro
    except Problem:
        return default


class PagesController(Controller):
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/", name="home")
    async def home(self) -> Template:
        live = await runs.live_runs(12, None, None)
        trending = await prompt_listing.list_prompts(
            prompt_listing.ListQuery(sort="popular", limit=8)
        )
        newest = await prompt_listing.list_prompts(prompt_listing.ListQuery(sort="new", limit=8))
        return page(
            "home.html", active="/", live=live.items, trending=trending.items, newest=newest.items
        )

    @get("/search", name="search")
    async def search(
        self,
        q: Q = None,
        tag: Short = None,
        model: Short = None,
        creator: Short = None,
        min_price: Cents = None,
        max_price: Cents = None,
        sort: Short = None,
        cursor: Annotated[str | None, Parameter(max_length=500, required=False)] = None,
    ) -> Template:
        q = (q or "").strip() or None
        if sort not in SORTS or (sort == "relevance" and not q):
            sort = None
        query = prompt_listing.ListQuery(
            q=q,
            tag=tag or None,
            model=model or None,
            creator=creator or None,
            min_price=min_price,
            max_price=max_price,
            sort=sort,
            cursor=cursor or None,
            limit=20,
        )
        error = None
        try:
            results = await prompt_listing.list_prompts(query)
            facets = await prompt_listing.facets(query)
        except Problem as exc:
            error = exc.detail
            results, facets = PromptPage(items=[], next_cursor=None), Facets()
        filters = {
            "q": q or "",
            "tag": tag or "",
            "model": model or "",
            "creator": creator or "",
            "min_price": "" if min_price is None else min_price,
            "max_price": "" if max_price is None else max_price,
            "sort": sort or "",
        }
        return page(
            "search.html",
            active="/search",
            q=q,
            results=results,
            facets=facets,
            filters=filters,
            sorts=SORTS,
            error=error,
            is_more=bool(cursor),
        )

    @get("/prompts/{prompt_id:uuid}", name="prompt")
    async def prompt(self, prompt_id: FromPath[uuid.UUID]) -> Template:
        try:
            # Always the anonymous view: a Private Mode template never reaches a page.
            p = await prompts.get_prompt(prompt_id, None)
        except Problem:
            return not_found_page("This prompt")
        samples = await _safe(prompt_samples.list_samples(prompt_id, None, None, 5), None)
        reviews = await _safe(community_reviews.list_reviews(prompt_id, None, None, 10), None)
        live = await runs.live_runs(50, None, None)
        live_here = [r for r in live.items if r.prompt_id == p.id]
        return page(
            "prompt.html",
            p=p,
            samples=samples.items if samples else [],
            reviews=reviews,
            live_here=live_here,
            room=f"prompt-{p.id}",
        )

    @get("/runs/{run_id:uuid}", name="run")
    async def run(self, run_id: FromPath[uuid.UUID]) -> Template:
        row = await runs.load(run_id)
        if row is None:
            return not_found_page("This run")
        prompt = await _safe(prompts.get_prompt(row["prompt_id"], None), None)
        if row["visibility"] != "public":
            # Only its buyer may see a private run: the fragment loads with their token.
            return page("run_private.html", run_id=str(run_id), prompt=prompt)
        run = runs.run_out(row, None)  # the public view: never the buyer's money
        return page("run.html", run=run, prompt=prompt, seq=row.get("last_seq") or 0)

    @get("/creators/{handle:str}", name="creator")
    async def creator(self, handle: FromPath[str]) -> Template:
        try:
            c = await community.get_creator(handle, None, None, 24)
        except Problem:
            return not_found_page(f"The creator @{handle}")
        followers = await community.list_followers(handle, None, 24)
        return page("creator.html", c=c, followers=followers, room=f"creator-{c.handle.lower()}")

    @get("/chat", name="chat")
    async def chat(self) -> Template:
        return await self._chat("lobby")

    @get("/chat/{slug:str}", name="chat_room")
    async def chat_room(self, slug: FromPath[str]) -> Template:
        return await self._chat(slug)

    async def _chat(self, slug: str) -> Template:
        room = await rooms.find_room(slug) if len(slug) <= 64 else None
        public = room is not None and room["visibility"] == "public"
        return page("chat.html", active="/chat", slug=slug, room=room if public else None)

    @get("/feed", name="feed")
    async def feed(self) -> Template:
        return page(
            "personal.html",
            active="/feed",
            title="Your feed",
            fragment="/web/feed",
            live_channel="feed#{user}",
            live_event="bp:feed",
            intro="New prompts from the creators you follow, as they publish.",
        )

    @get("/notifications", name="notifications")
    async def notifications(self) -> Template:
        return page("notifications.html", active="/notifications")

    @get("/runs", name="my_runs")
    async def my_runs(self) -> Template:
        return page(
            "personal.html",
            active="/runs",
            title="My runs",
            fragment="/web/runs",
            live_channel="notifications#{user}",
            live_event="bp:wallet",
            intro="Every run you started, newest first.",
        )

    @get("/wallet", name="wallet")
    async def wallet(self) -> Template:
        return page("wallet.html", active="/wallet")

    @get("/dashboard", name="dashboard")
    async def dashboard(self) -> Template:
        return page("dashboard.html", active="/dashboard")

    @get("/publish", name="publish")
    async def publish(self) -> Template:
        return page("publish.html", active="/dashboard")

    @get("/account", name="account")
    async def account(self) -> Template:
        return page("account.html", active="/account")

    @get("/admin", name="admin")
    async def admin(self) -> Template:
        return page(
            "personal.html",
            active="/admin",
            title="Admin",
            fragment="/web/admin",
            intro="Refunds, bans and the realtime engine.",
        )

    @get("/signin", name="signin")
    async def signin(self, request: Request[Any, Any, Any]) -> Template:
        return page("auth.html", kind="signin")

    @get("/signup", name="signup")
    async def signup(self) -> Template:
        return page("auth.html", kind="signup")
