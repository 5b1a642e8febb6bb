"""Prompts routes (thin: parse, call the service, shape the response)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from hub.platform.auth import CurrentUser, Viewer
from hub.platform.pagination import Cursor, Limit
from hub.prompts import listing as prompt_listing
from hub.prompts import samples as prompt_samples
from hub.prompts import service
from hub.prompts.schemas import (
    Facets,
    PromptCreate,
    PromptOut,
    PromptPage,
    PromptPatch,
    SampleCreate,
    SampleOut,
    SamplePage,
    SampleRunPage,
    Sort,
    VersionPage,
)

TagParam = Annotated[str | None, Parameter(max_length=30, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
HandleParam = Annotated[
    str | None, Parameter(max_length=30, pattern=r"^[A-Za-z0-9_]+$", description="Creator handle.")
]
PriceParam = Annotated[int | None, Parameter(ge=0, le=100_000)]

_PRIVATE = " `template` is present only for the prompt's owner, or when `private_mode` is false."


class PromptsController(Controller):
    path = "/prompts"
    tags = ["prompts"]

    @post("/", status_code=HTTP_201_CREATED, summary="Publish a prompt")
    async def create(
        self, request: Request[CurrentUser, Any, Any], data: JSONBody[PromptCreate]
    ) -> PromptOut:
        """`variables` are derived from the template's `{{name}}` placeholders. Returns the
        prompt with its template (you are the owner)."""
        return await service.create_prompt(request.user.id, data)

    @get(
        "/",
        exclude_from_auth=True,
        summary="Browse and search prompts",
        description="Full-text search over title, description and tags (`q`, web-search "
        "syntax: quotes, `or`, `-`), filters, and keyset pagination. `sort` defaults to "
        "`relevance` with `q` and `new` without. Items never carry a `template`.",
    )
    async def list_prompts(
        self,
        q: Annotated[str | None, Parameter(max_length=200)] = None,
        tag: TagParam = None,
        creator: HandleParam = None,
        model: Annotated[str | None, Parameter(max_length=64)] = None,
        min_price: PriceParam = None,
        max_price: PriceParam = None,
        sort: FromQuery[Sort | None] = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> PromptPage:
        return await prompt_listing.list_prompts(
            prompt_listing.ListQuery(
                q=q,
                tag=tag,
                creator=creator,
                model=model,
                min_price=min_price,
                max_price=max_price,
                sort=sort,
                cursor=cursor,
                limit=limit,
            )
        )

    @get(
        "/facets",
        exclude_from_auth=True,
        summary="Facet counts of a search",
        description="How the prompts matching the same filters as `GET /prompts` split by "
        "tag, model and price band (`free`, `up_to_50`, `over_50` cents). Each facet ignores "
        "its own filter, so the counts say what choosing another value would give.",
    )
    async def facets(
        self,
        q: Annotated[str | None, Parameter(max_length=200)] = None,
        tag: TagParam = None,
        creator: HandleParam = None,
        model: Annotated[str | None, Parameter(max_length=64)] = None,
        min_price: PriceParam = None,
        max_price: PriceParam = None,
    ) -> Facets:
        return await prompt_listing.facets(
            prompt_listing.ListQuery(
                q=q,
                tag=tag,
                creator=creator,
                model=model,
                min_price=min_price,
                max_price=max_price,
            )
        )

    @get(
        "/{prompt_id:uuid}",
        exclude_from_auth=True,
        summary="A prompt",
        description="Anyone may read an active prompt." + _PRIVATE + " An archived prompt "
        "is 404 for everyone but its owner.",
    )
    async def get_prompt(self, viewer: Viewer, prompt_id: FromPath[UUID]) -> PromptOut:
        return await service.get_prompt(prompt_id, viewer.id if viewer else None)

    @patch(
        "/{prompt_id:uuid}",
        summary="Edit a prompt (owner)",
        description="Only the fields sent change. A different `template` creates a new "
        "version; runs record the version they used. `status: active` restores an archived "
        "prompt.",
    )
    async def update(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        data: JSONBody[PromptPatch],
    ) -> PromptOut:
        return await service.update_prompt(prompt_id, request.user.id, data)

    @delete(
        "/{prompt_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Archive a prompt (owner)",
        description="Archived prompts leave listings and cannot be run; the owner still sees "
        "them and may restore them with PATCH `status: active`.",
    )
    async def archive(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[UUID]
    ) -> None:
        await service.archive_prompt(prompt_id, request.user.id)

    @get("/{prompt_id:uuid}/versions", summary="A prompt's versions (owner)")
    async def versions(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> VersionPage:
        return await service.list_versions(prompt_id, request.user.id, cursor, limit)

    @get("/{prompt_id:uuid}/samples", exclude_from_auth=True, summary="A prompt's sample outputs")
    async def samples(
        self,
        viewer: Viewer,
        prompt_id: FromPath[UUID],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> SamplePage:
        return await prompt_samples.list_samples(
            prompt_id, viewer.id if viewer else None, cursor, limit
        )

    @post(
        "/{prompt_id:uuid}/samples",
        status_code=HTTP_201_CREATED,
        summary="Add a sample output (owner)",
        description="Send `output` as plain text, or `run_id` of one of your own completed "
        "runs of this prompt to copy its output. At most 20 samples per prompt.",
    )
    async def add_sample(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        data: JSONBody[SampleCreate],
    ) -> SampleOut:
        return await prompt_samples.add_sample(prompt_id, request.user.id, data)

    @get(
        "/{prompt_id:uuid}/sample-runs",
        summary="Your runs that can become samples (owner)",
        description="Your own completed runs of this prompt that are not samples yet, newest "
        "first, with an excerpt of each output: the `run_id`s `POST .../samples` accepts.",
    )
    async def sample_runs(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        limit: Limit = 20,
    ) -> SampleRunPage:
        return await prompt_samples.sample_runs(prompt_id, request.user.id, limit)

    @delete(
        "/{prompt_id:uuid}/samples/{sample_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a sample (owner)",
    )
    async def delete_sample(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[UUID],
        sample_id: FromPath[UUID],
    ) -> None:
        await prompt_samples.delete_sample(prompt_id, sample_id, request.user.id)


class MyPromptsController(Controller):
    path = "/me/prompts"
    tags = ["prompts"]

    @get("/", summary="My prompts, archived ones included")
    async def mine(
        self,
        request: Request[CurrentUser, Any, Any],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> PromptPage:
        return await prompt_listing.list_prompts(
            prompt_listing.ListQuery(
                owner_id=request.user.id, include_archived=True, cursor=cursor, limit=limit
            )
        )


HANDLERS: list[Any] = [PromptsController, MyPromptsController]
