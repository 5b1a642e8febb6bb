"""Fragments and form actions under /web: what htmx loads into pages and posts from them.

Public fragments take an optional Bearer token (the `viewer` dependency); personal ones require it
(the JWT middleware answers 401, which the page turns into "sign in"). Problems raised by the
services become small HTML notices with the same status code (see `problem_fragment`), so
every form shows the service's own actionable message.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, Parameter
from litestar.response import Template

from hub.accounts import service as accounts
from hub.accounts.schemas import ProfilePatch
from hub.billing import creators, payouts, wallets
from hub.community import feed as community_feed
from hub.community import notifications as community_notifications
from hub.community import reviews as community_reviews
from hub.community import service as community
from hub.community.schemas import MarkRead, ReviewIn
from hub.platform.auth import CurrentUser, Viewer
from hub.platform.db import fetch
from hub.platform.errors import Problem, bad_request, forbidden, not_found
from hub.prompts import listing as prompt_listing
from hub.prompts import service as prompts
from hub.prompts.schemas import PromptCreate
from hub.rooms import dms
from hub.rooms import messages as room_messages
from hub.rooms import reads as room_reads
from hub.rooms import service as rooms
from hub.runs import lifecycle, pricing, refunds
from hub.runs import queries as runs
from hub.runs import start as runs_start
from hub.runs.schemas import RunRequest
from hub.web.render import fragment

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PageCursor = Annotated[str | None, Parameter(max_length=512, required=False)]


def problem_fragment(request: Request[Any, Any, Any], exc: Problem) -> Template:
    """A service's problem as an HTML notice, keeping its status (htmx swaps 4xx too)."""
    return fragment("problem.html", status_code=exc.status_code, problem=exc)


_FRIENDLY = [
    (re.compile(r"Expected `int` >= (-?\d+)"), r"must be a whole number of at least \1"),
    (re.compile(r"Expected `int` <= (-?\d+)"), r"must be a whole number of at most \1"),
    (re.compile(r"Expected `int( \| null)?`, got `\w+`"), "must be a whole number"),
    (re.compile(r"Expected `str` of length >= (\d+)"), r"needs at least \1 characters"),
    (re.compile(r"Expected `str` of length <= (\d+)"), r"may have at most \1 characters"),
    (re.compile(r"Expected `array` of length <= (\d+)"), r"may have at most \1 entries"),
    (re.compile(r"Expected `str` matching regex .*"), "has characters that are not allowed"),
]
_AT = re.compile(r" - at `\$\.([A-Za-z_]+)(\[\d+\])?`$")


def _decode(struct: type[Any], data: dict[str, Any], labels: dict[str, str] | None = None) -> Any:
    """A form through the API's own msgspec schema: the same rules, told in words (with the
    form's own label for the field when the caller gives one)."""
    try:
        return msgspec.convert(data, struct, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = _AT.search(text)
        field = at.group(1) if at else None
        rule = _AT.sub("", text)
        for pattern, words in _FRIENDLY:
            if pattern.fullmatch(rule):
                rule = pattern.sub(words, rule)
                break
        else:
            rule = rule.replace("`", "")
        if field is None:
            raise bad_request(f"Check this form: {rule}.") from exc
        name = (labels or {}).get(field, field.replace("_", " "))
        raise bad_request(f"{name}: {rule}.", field) from exc


def _uid(user: CurrentUser | None) -> str | None:
    return user.id if user else None


class PublicFragments(Controller):
    """Fragments anyone may load; a token, when sent, personalises them."""

    path = "/web"
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/live-runs")
    async def live_runs(self) -> Template:
        live = await runs.live_runs(12, None, None)
        return fragment("live_runs.html", live=live.items)

    @get("/prompts/{prompt_id:uuid}/stats")
    async def prompt_stats(self, prompt_id: FromPath[uuid.UUID]) -> Template:
        return fragment("prompt_stats.html", p=await prompts.get_prompt(prompt_id, None))

    @get("/prompts/{prompt_id:uuid}/reviews")
    async def reviews(self, prompt_id: FromPath[uuid.UUID]) -> Template:
        page_ = await community_reviews.list_reviews(prompt_id, None, None, 10)
        return fragment("reviews.html", reviews=page_)

    @get("/prompts/{prompt_id:uuid}/estimate")
    async def estimate(
        self,
        viewer: Viewer,
        prompt_id: FromPath[uuid.UUID],
        max_tokens: Annotated[int, Parameter(ge=1, le=8000)] = 200,
    ) -> Template:
        est = await pricing.estimate(str(prompt_id), max_tokens, _uid(viewer))
        return fragment("estimate.html", e=est)

    @get("/follow/{handle:str}")
    async def follow_button(self, viewer: Viewer, handle: FromPath[str]) -> Template:
        creator = await community.get_creator(handle, _uid(viewer), None, 1)
        return fragment("follow.html", c=creator, user=viewer)

    @get("/runs/{run_id:uuid}/summary")
    async def run_summary(self, viewer: Viewer, run_id: FromPath[uuid.UUID]) -> Template:
        run = await runs.get_run(str(run_id), _uid(viewer))
        mine = run.hold_cents is not None  # money fields only reach the buyer
        return fragment("run_summary.html", run=run, mine=mine)

    @get("/rooms")
    async def room_list(
        self,
        viewer: Viewer,
        current: Annotated[str | None, Parameter(max_length=64, required=False)] = None,
    ) -> Template:
        items, _ = await rooms.list_rooms(viewer, None, 100)
        mine: list[Any] = []
        if viewer is not None:
            mine, _ = await room_reads.my_rooms(viewer.id, None, 50)
            await rooms.add_peers(mine, viewer.id)
            await rooms.add_peers(items, viewer.id)
        taken = {r.slug for r in mine}
        others = [r for r in items if r.slug not in taken]
        return fragment("room_list.html", mine=mine, rooms=others, current=current)

    @get("/rooms/{slug:str}")
    async def room_pane(self, viewer: Viewer, slug: FromPath[str]) -> Template:
        room = await rooms.readable_room(slug, viewer)
        view = await rooms.room_for_viewer(room, viewer)  # a DM is titled by the other person
        return fragment("room_pane.html", room=view, slug=room["slug"])

    @get("/rooms/{slug:str}/messages")
    async def messages(self, viewer: Viewer, slug: FromPath[str]) -> Template:
        room = await rooms.readable_room(slug, viewer)
        items, _ = await room_messages.list_messages(slug, viewer, None, 50)
        return fragment(
            "messages.html",
            messages=list(reversed(items)),
            room=room,
            role="moderator"
            if await rooms.can_moderate(room, viewer)
            else ("member" if viewer else "guest"),
        )

    @get("/people")
    async def people(
        self,
        room: Annotated[str, Parameter(max_length=64)],
        id: Annotated[list[str] | None, Parameter(required=False)] = None,
        anon: Annotated[int, Parameter(ge=0, le=100_000)] = 0,
    ) -> Template:
        """Who is in a room now (ids from the room's presence), with names, plus the private
        room's members who are offline."""
        online_ids = [i for i in (id or [])[:200] if prompts.parse_uuid(i)]
        found = await rooms.find_room(room)
        members: list[dict[str, Any]] = []
        if found is not None and found["visibility"] == "private":
            members = await fetch(
                "SELECT u.id, u.handle, u.display_name FROM room_members m "
                "JOIN users u ON u.id = m.user_id WHERE m.room_id = $1 AND u.deleted_at IS NULL "
                "ORDER BY u.handle LIMIT 200",
                found["id"],
            )
        rows = await fetch(
            "SELECT id, handle, display_name FROM users WHERE id = ANY($1::uuid[]) "
            "AND deleted_at IS NULL ORDER BY handle",
            [uuid.UUID(i) for i in online_ids],
        )
        online = {str(r["id"]) for r in rows}
        offline = [m for m in members if str(m["id"]) not in online]
        return fragment("people.html", online=rows, offline=offline, anon=anon)


class PersonalFragments(Controller):
    """Fragments and actions for the signed-in user (Bearer token required)."""

    path = "/web"
    include_in_schema = False

    # --- prompts, runs, reviews, follows ------------------------------------------------

    @post("/follow/{handle:str}", status_code=200)
    async def follow(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        await community.follow(request.user.id, handle)
        creator = await community.get_creator(handle, request.user.id, None, 1)
        return fragment("follow.html", c=creator, user=request.user, announce="Following.")

    @delete("/follow/{handle:str}", status_code=200)
    async def unfollow(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str]
    ) -> Template:
        await community.unfollow(request.user.id, handle)
        creator = await community.get_creator(handle, request.user.id, None, 1)
        return fragment("follow.html", c=creator, user=request.user, announce="Unfollowed.")

    @post("/prompts/{prompt_id:uuid}/runs", status_code=200)
    async def start_run(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        inputs = {k[len("input.") :]: v for k, v in data.items() if k.startswith("input.")}
        body: dict[str, Any] = {
            "inputs": inputs,
            "visibility": "public" if data.get("public") else "private",
        }
        if data.get("max_tokens"):
            body["max_tokens"] = data["max_tokens"]
        if "expected_price_cents" in RunRequest.__struct_fields__ and data.get(
            "expected_price_cents"
        ):
            body["expected_price_cents"] = data["expected_price_cents"]
        run = await runs_start.start_run(
            request.user.id,
            str(prompt_id),
            _decode(RunRequest, body),
            data.get("idempotency_key") or None,
        )
        return fragment("run_started.html", run=run, seq=0)

    @get("/runs/{run_id:uuid}")
    async def my_run(
        self, request: Request[CurrentUser, Any, Any], run_id: FromPath[uuid.UUID]
    ) -> Template:
        row = await runs.load(run_id)
        if row is None or str(row["buyer_id"]) != request.user.id:
            raise not_found("This run")
        return fragment(
            "run_stream.html", run=runs.run_out(row, request.user.id), seq=row["delta_seq"]
        )

    @post("/runs/{run_id:uuid}/cancel", status_code=200)
    async def cancel_run(
        self, request: Request[CurrentUser, Any, Any], run_id: FromPath[uuid.UUID]
    ) -> Template:
        await lifecycle.request_cancel(str(run_id), request.user.id)
        run = await runs.get_run(str(run_id), request.user.id)
        return fragment("run_summary.html", run=run, mine=True, cancelling=True)

    @get("/prompts/{prompt_id:uuid}/review-form")
    async def review_form(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        from hub.prompts.rules import has_completed_run

        p = await prompts.get_prompt(prompt_id, request.user.id)
        mine = await fetch(
            "SELECT rating, body FROM reviews WHERE prompt_id = $1 AND user_id = $2",
            prompt_id,
            uuid.UUID(request.user.id),
        )
        can = p.owner.id != request.user.id and await has_completed_run(
            request.user.id, str(prompt_id)
        )
        return fragment("review_form.html", p=p, can=can, mine=mine[0] if mine else None)

    @post("/prompts/{prompt_id:uuid}/reviews", status_code=200)
    async def review(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        body = _decode(ReviewIn, {"rating": data.get("rating"), "body": data.get("body", "")})
        await community_reviews.upsert_review(prompt_id, request.user.id, body)
        p = await prompts.get_prompt(prompt_id, request.user.id)
        return fragment(
            "review_form.html",
            p=p,
            can=True,
            mine={"rating": body.rating, "body": body.body},
            saved=True,
        )

    @post("/prompts", status_code=200)
    async def publish(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        tags = [t.strip() for t in data.get("tags", "").split(",") if t.strip()]
        body = _decode(
            PromptCreate,
            {
                "title": data.get("title", ""),
                "description": data.get("description", ""),
                "template": data.get("template", ""),
                "price_cents": data.get("price_cents") or 0,
                "private_mode": bool(data.get("private_mode")),
                "tags": tags,
            },
        )
        p = await prompts.create_prompt(request.user.id, body)
        return fragment("published.html", p=p)

    # --- feed, notifications ------------------------------------------------------------

    @get("/feed")
    async def feed(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        page_ = await community_feed.list_feed(request.user.id, cursor, 30)
        if cursor:
            return fragment("feed_items.html", feed=page_)
        following = await community.list_following(request.user.id, None, 50)
        return fragment("feed.html", feed=page_, following=following)

    @get("/notifications")
    async def notifications(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        page_ = await community_notifications.list_notifications(request.user.id, None, cursor, 50)
        if cursor:
            return fragment("notification_items.html", page=page_)
        return fragment("notifications.html", page=page_)

    @post("/notifications/read-all", status_code=200)
    async def read_all(self, request: Request[CurrentUser, Any, Any]) -> Template:
        await community_notifications.mark_read(request.user.id, MarkRead(all=True))
        page_ = await community_notifications.list_notifications(request.user.id, None, None, 50)
        return fragment("notifications.html", page=page_)

    @post("/notifications/{notification_id:uuid}/read", status_code=200)
    async def read_one(
        self, request: Request[CurrentUser, Any, Any], notification_id: FromPath[uuid.UUID]
    ) -> Template:
        await community_notifications.mark_read(
            request.user.id, MarkRead(ids=[str(notification_id)])
        )
        page_ = await community_notifications.list_notifications(request.user.id, None, None, 50)
        return fragment("notifications.html", page=page_)

    # --- runs, wallet, dashboard --------------------------------------------------------

    @get("/runs")
    async def runs_list(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        page_ = await runs.my_runs(request.user.id, 50, cursor)
        name = "my_runs_items.html" if cursor else "my_runs.html"
        return fragment(name, runs=page_.items, next_cursor=page_.next_cursor)

    @get("/wallet")
    async def wallet(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        ledger = await wallets.ledger_page(request.user.id, 50, cursor)
        if cursor:
            return fragment("ledger_rows.html", ledger=ledger.items, next_cursor=ledger.next_cursor)
        wallet = await wallets.wallet(request.user.id)
        return fragment(
            "wallet.html", w=wallet, ledger=ledger.items, next_cursor=ledger.next_cursor
        )

    @get("/dashboard")
    async def dashboard(self, request: Request[CurrentUser, Any, Any]) -> Template:
        uid = request.user.id
        earnings = await creators.creator_earnings(uid)
        sales = await creators.creator_sales(uid, 20, None)
        totals = await creators.sales_totals(uid, days=30)
        mine = await prompt_listing.list_prompts(
            prompt_listing.ListQuery(owner_id=uid, include_archived=True, limit=50)
        )
        titles = {p.id: p.title for p in mine.items}
        missing = {s.prompt_id for s in sales.items} - set(titles)
        if missing:
            for row in await fetch(
                "SELECT id, title FROM prompts WHERE id = ANY($1::uuid[])",
                [uuid.UUID(i) for i in missing],
            ):
                titles[str(row["id"])] = row["title"]
        payout_page = await payouts.list_payouts(uid, 20, None)
        return fragment(
            "dashboard.html",
            e=earnings,
            sales=sales.items,
            titles=titles,
            totals=totals,
            chart=_chart(totals.per_day),
            prompts=mine.items,
            payouts=payout_page.items,
            now=datetime.now(UTC),
        )

    @post("/payout-account", status_code=200)
    async def payout_account(self, request: Request[CurrentUser, Any, Any]) -> Template:
        account = await payouts.payout_account(request.user.id)
        return fragment("payout_account.html", account=account)

    # --- rooms --------------------------------------------------------------------------

    @post("/rooms", status_code=200)
    async def create_room(
        self, request: Request[CurrentUser, Any, Any], data: Form
    ) -> Response[Any]:
        room = await rooms.create_room(
            request.user,
            data.get("slug", "").strip().lower(),
            data.get("title", "").strip(),
            "private" if data.get("visibility") == "private" else "public",
        )
        return Response(
            content="",
            status_code=200,
            headers={"HX-Redirect": f"/chat/{room.slug}"},
        )

    @post("/dms/{handle:str}", status_code=200)
    async def direct_message(
        self, request: Request[CurrentUser, Any, Any], handle: FromPath[str], data: Form
    ) -> Response[Any]:
        out = await dms.send(request.user, handle, data.get("text", ""))
        return Response(
            content="", status_code=200, headers={"HX-Redirect": f"/chat/{out.room.slug}"}
        )

    @post("/rooms/{slug:str}/members", status_code=200)
    async def add_member(
        self, request: Request[CurrentUser, Any, Any], slug: FromPath[str], data: Form
    ) -> Template:
        handle = data.get("handle", "").strip().lstrip("@")
        await rooms.add_member(slug, request.user, handle)
        template = fragment("notice.html", text=f"@{handle} can now read and post in this room.")
        template.headers["HX-Trigger"] = "bp:people"  # the room's member list refreshes
        return template

    # --- account ------------------------------------------------------------------------

    @get("/account")
    async def account(self, request: Request[CurrentUser, Any, Any]) -> Template:
        me = await accounts.get_profile(request.user.id)
        return fragment("account.html", me=me)

    @post("/account/profile", status_code=200)
    async def profile(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        patch = _decode(
            ProfilePatch,
            {k: data[k] for k in ("display_name", "bio", "handle") if k in data},
        )
        me = await accounts.update_profile(request.user.id, patch)
        return fragment("account.html", me=me, saved="Profile saved.")

    # --- admin --------------------------------------------------------------------------

    @get("/admin")
    async def admin(self, request: Request[CurrentUser, Any, Any]) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can open the admin page.")
        engine = request.app.state.realtime
        per_user = sorted(
            ((uid, len(clients)) for uid, clients in engine.users.items()),
            key=lambda x: -x[1],
        )[:20]
        names = {
            str(r["id"]): r["handle"]
            for r in await fetch(
                "SELECT id, handle FROM users WHERE id = ANY($1::uuid[])",
                [uuid.UUID(u) for u, _ in per_user if prompts.parse_uuid(u)],
            )
        }
        recent = await fetch(
            "SELECT r.id, r.status, r.charge_cents, r.created_at, p.title, u.handle AS buyer "
            "FROM runs r JOIN prompts p ON p.id = r.prompt_id JOIN users u ON u.id = r.buyer_id "
            "WHERE r.status = 'completed' AND r.charge_cents > 0 "
            "ORDER BY r.created_at DESC LIMIT 20"
        )
        return fragment(
            "admin.html",
            connections=len(engine.clients),
            users=len(engine.users),
            per_user=[(names.get(u, u), n) for u, n in per_user],
            recent=recent,
        )

    @post("/admin/refund", status_code=200)
    async def admin_refund(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can refund runs.")
        run_id = data.get("run_id", "").strip()
        if prompts.parse_uuid(run_id) is None:
            raise bad_request("Give the run's id (a UUID).", "run_id")
        out = await refunds.admin_refund(run_id, request.user.id)
        return fragment(
            "notice.html",
            text=f"Refunded {out.refunded_cents / 100:.2f} USD to the buyer of run {run_id}.",
        )

    @post("/admin/ban", status_code=200)
    async def admin_ban(self, request: Request[CurrentUser, Any, Any], data: Form) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can ban.")
        handle = data.get("handle", "").strip().lstrip("@")
        room = data.get("room", "lobby").strip() or "lobby"
        minutes = int(data.get("minutes") or 60)
        who, until = await rooms.ban(room, request.user, handle, minutes)
        return fragment(
            "notice.html", text=f"@{who} is banned from #{room} until {until:%H:%M} UTC."
        )


def _chart(per_day: list[Any]) -> dict[str, Any]:
    """Bars for an inline SVG: one per day, heights scaled to the best day."""
    top = max((d.earning_cents for d in per_day), default=0) or 1
    width, height = 600, 160
    n = max(len(per_day), 1)
    slot = width / n
    bars = []
    for i, d in enumerate(per_day):
        h = round((d.earning_cents / top) * (height - 20))
        bars.append(
            {
                "x": round(i * slot + 2, 1),
                "y": height - h,
                "w": max(round(slot - 4, 1), 1),
                "h": h,
                "day": d.day,
                "cents": d.earning_cents,
                "count": d.count,
            }
        )
    return {"width": width, "height": height, "bars": bars, "top": top}


HANDLERS: list[Any] = [PublicFragments, PersonalFragments]
