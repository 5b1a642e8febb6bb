"""Prompt management for creators, and the leak guard's incidents for creators and admins.

`/prompts/<id>/manage` is a public shell like every page; what it shows loads as fragments
with the owner's token, and every fragment checks ownership through the prompts service
(403 for anyone else, 404 for someone else's archived prompt). The template of a prompt is
the one thing here that must never reach anyone but its owner, and for the owner only on
request: it is rendered by `template_editor` alone (the "Show and edit the prompt text"
button), sent with `Cache-Control: no-store`, and every other fragment renders the prompt
with its template stripped. Forms post to small result slots and refresh what they changed
with out-of-band swaps, so an error never replaces the form the creator is filling in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Template

from hub.media import service as media
from hub.platform.auth import CurrentUser
from hub.platform.errors import forbidden, validation_error
from hub.platform.settings import get_settings
from hub.prompts import samples as prompt_samples
from hub.prompts import service as prompts
from hub.prompts.schemas import PromptOut, PromptPatch, SampleCreate
from hub.providers.models import list_models
from hub.runs import incidents
from hub.web.fragments import Form, PageCursor, _decode
from hub.web.render import fragment, page

NO_STORE = CacheControlHeader(no_store=True)
DETAIL_LABELS = {
    "title": "Title",
    "description": "Description",
    "price_cents": "Price per run (cents)",
    "tags": "Tags",
    "sample_inputs": "Example inputs",
    "template": "Prompt text",
    "output": "Output",
}
_MEDIA_CEILING = get_settings().media_max_bytes + 256 * 1024


@dataclass
class ImageForm:
    """The image form of a sample: the file and what it shows, for screen-reader users."""

    image: UploadFile
    alt: str = ""


def _retarget(template: Template, target: str) -> Template:
    """Forms post to a small result slot (where a problem is shown, keeping what the creator
    typed); a success replaces the whole section instead."""
    template.headers["HX-Retarget"] = target
    return template


async def owned_prompt(prompt_id: uuid.UUID, user_id: str) -> PromptOut:
    """The prompt, if the caller owns it, with its template stripped (only the editor shows it)."""
    p = await prompts.get_prompt(prompt_id, user_id)
    if p.owner.id != user_id:
        raise forbidden("Only the prompt's creator can manage it.")
    return msgspec.structs.replace(p, template=None)


def _models(current: str) -> list[str]:
    names = sorted(m.name for m in list_models())
    return names if current in names else [current, *names]


async def _samples_context(prompt_id: uuid.UUID, user_id: str) -> dict[str, Any]:
    samples = await prompt_samples.list_samples(
        prompt_id, user_id, None, prompt_samples.MAX_SAMPLES_PER_PROMPT
    )
    candidates = await prompt_samples.sample_runs(prompt_id, user_id, 20)
    return {
        "samples": samples.items,
        "candidates": candidates.items,
        "max_samples": prompt_samples.MAX_SAMPLES_PER_PROMPT,
    }


async def _versions(prompt_id: uuid.UUID, user_id: str) -> list[Any]:
    page_ = await prompts.list_versions(prompt_id, user_id, None, 10)
    # Dates and numbers only: old templates stay off the page like the current one.
    return [
        {"version": v.version, "created_at": v.created_at, "current": v.current}
        for v in page_.items
    ]


class ManagePages(Controller):
    include_in_schema = False
    opt = {"exclude_from_auth": True}

    @get("/prompts/{prompt_id:uuid}/manage", name="manage_prompt")
    async def manage(self, prompt_id: FromPath[uuid.UUID]) -> Template:
        # No prompt data in the shell: an archived prompt is visible to its owner only.
        return page("manage.html", active="/dashboard", prompt_id=str(prompt_id))


class ManageFragments(Controller):
    """The owner's fragments and actions (Bearer token required)."""

    path = "/web/prompts/{prompt_id:uuid}"
    include_in_schema = False
    cache_control = NO_STORE

    @get("/manage")
    async def manage(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        uid = request.user.id
        p = await owned_prompt(prompt_id, uid)
        return fragment(
            "manage.html",
            p=p,
            models=_models(p.model),
            versions=await _versions(prompt_id, uid),
            cap_words=get_settings().leak_guard_words,
            **await _samples_context(prompt_id, uid),
        )

    @post("/details", status_code=200)
    async def details(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        uid = request.user.id
        current = await owned_prompt(prompt_id, uid)
        examples = {
            k[len("example.") :]: v.strip()
            for k, v in data.items()
            if k.startswith("example.") and v.strip()
        }
        tags = [t.strip().lstrip("#") for t in data.get("tags", "").split(",") if t.strip()]
        patch = _decode(
            PromptPatch,
            {
                "title": data.get("title", ""),
                "description": data.get("description", ""),
                "price_cents": data.get("price_cents") or 0,
                "model": data.get("model") or current.model,
                "private_mode": bool(data.get("private_mode")),
                "leak_guard": bool(data.get("leak_guard")),
                "tags": tags,
                "sample_inputs": examples,
            },
            DETAIL_LABELS,
        )
        p = msgspec.structs.replace(
            await prompts.update_prompt(prompt_id, uid, patch), template=None
        )
        return fragment(
            "manage_saved.html", p=p, text="Saved. The prompt page shows the changes now."
        )

    @get("/template")
    async def template_editor(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        """The owner's template, on request only (never cached, never on a page by default)."""
        full = await prompts.get_prompt(prompt_id, request.user.id)
        if full.owner.id != request.user.id:
            raise forbidden("Only the prompt's creator can see and edit its text.")
        return fragment("manage_template_editor.html", p=full)

    @get("/template/closed")
    async def template_closed(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        uid = request.user.id
        p = await owned_prompt(prompt_id, uid)
        return fragment("manage_template.html", p=p, versions=await _versions(prompt_id, uid))

    @post("/template", status_code=200)
    async def new_version(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        uid = request.user.id
        before = await owned_prompt(prompt_id, uid)
        patch = _decode(PromptPatch, {"template": data.get("template", "")}, DETAIL_LABELS)
        after = msgspec.structs.replace(
            await prompts.update_prompt(prompt_id, uid, patch), template=None
        )
        if after.version == before.version:
            text = "The text is the same as the current version: nothing changed."
        else:
            text = f"Version {after.version} is live. New runs use it; your followers are told."
        return _retarget(
            fragment(
                "manage_template.html",
                p=after,
                versions=await _versions(prompt_id, uid),
                notice=text,
                oob_head=True,
            ),
            "#template-area",
        )

    @post("/archive", status_code=200)
    async def archive(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        uid = request.user.id
        await owned_prompt(prompt_id, uid)
        await prompts.archive_prompt(prompt_id, uid)
        p = await owned_prompt(prompt_id, uid)
        notice = "Archived: it left the listings and cannot be run."
        return _retarget(
            fragment("manage_status.html", p=p, notice=notice, oob_head=True), "#status-area"
        )

    @post("/restore", status_code=200)
    async def restore(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID]
    ) -> Template:
        uid = request.user.id
        await owned_prompt(prompt_id, uid)
        await prompts.update_prompt(prompt_id, uid, PromptPatch(status="active"))
        p = await owned_prompt(prompt_id, uid)
        notice = "Restored: it is listed and can be run again."
        return _retarget(
            fragment("manage_status.html", p=p, notice=notice, oob_head=True), "#status-area"
        )

    # --- samples ------------------------------------------------------------------------

    @post("/manage/samples", status_code=200)
    async def add_sample(
        self, request: Request[CurrentUser, Any, Any], prompt_id: FromPath[uuid.UUID], data: Form
    ) -> Template:
        uid = request.user.id
        await owned_prompt(prompt_id, uid)
        if data.get("source") == "run":
            if not data.get("run_id"):
                raise validation_error("run_id", "Choose one of your runs to add as a sample.")
            body = _decode(SampleCreate, {"run_id": data["run_id"], "title": data.get("title", "")})
        else:
            body = _decode(
                SampleCreate,
                {"output": data.get("output", ""), "title": data.get("title", "")},
                {"title": "Sample title", "output": "Output"},
            )
        sample = await prompt_samples.add_sample(prompt_id, uid, body)
        return await self._samples(
            prompt_id, uid, f"Sample added{': ' + sample.title if sample.title else ''}."
        )

    @delete("/manage/samples/{sample_id:uuid}", status_code=200)
    async def delete_sample(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        sample_id: FromPath[uuid.UUID],
    ) -> Template:
        uid = request.user.id
        await prompt_samples.delete_sample(prompt_id, sample_id, uid)
        return await self._samples(prompt_id, uid, "Sample removed, with its images.")

    @post(
        "/manage/samples/{sample_id:uuid}/media",
        status_code=200,
        request_max_body_size=_MEDIA_CEILING,
    )
    async def add_image(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        sample_id: FromPath[uuid.UUID],
        data: Annotated[ImageForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        if not isinstance(data.image, UploadFile) or not data.image.filename:
            raise validation_error("image", "Choose an image file (PNG, JPEG or WebP).")
        content = await data.image.read(get_settings().media_max_bytes + 1)
        uid = request.user.id
        await media.add_media(prompt_id, sample_id, uid, content, (data.alt or "").strip())
        return await self._samples(prompt_id, uid, "Image added.")

    @delete("/manage/samples/{sample_id:uuid}/media/{media_id:uuid}", status_code=200)
    async def delete_image(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        sample_id: FromPath[uuid.UUID],
        media_id: FromPath[uuid.UUID],
    ) -> Template:
        uid = request.user.id
        await media.delete_media(prompt_id, sample_id, media_id, uid)
        return await self._samples(prompt_id, uid, "Image removed.")

    async def _samples(self, prompt_id: FromPath[uuid.UUID], uid: str, notice: str) -> Template:
        return _retarget(
            fragment(
                "manage_samples.html",
                prompt_id=str(prompt_id),
                notice=notice,
                **await _samples_context(prompt_id, uid),
            ),
            "#samples-area",
        )

    # --- leak guard ---------------------------------------------------------------------

    @get("/leak-guard")
    async def leak_guard(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        cursor: PageCursor = None,
    ) -> Template:
        user = request.user
        record = await incidents.prompt_runs(prompt_id, user.id, user.is_admin, cursor, 20)
        name = "leak_guard_rows.html" if cursor else "leak_guard.html"
        return fragment(name, g=record, prompt_id=str(prompt_id))


class AdminLeakGuardFragments(Controller):
    """Admins: prompts by incidents, and each one's runs (the same record the creator sees)."""

    path = "/web/admin/leak-guard"
    include_in_schema = False
    cache_control = NO_STORE

    @get("/")
    async def overview(
        self, request: Request[CurrentUser, Any, Any], cursor: PageCursor = None
    ) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can see the leak guard overview.")
        page_ = await incidents.admin_prompts(cursor, 20)
        name = "admin_leak_guard_rows.html" if cursor else "admin_leak_guard.html"
        return fragment(name, page=page_)

    @get("/{prompt_id:uuid}")
    async def prompt_runs(
        self,
        request: Request[CurrentUser, Any, Any],
        prompt_id: FromPath[uuid.UUID],
        cursor: PageCursor = None,
    ) -> Template:
        if not request.user.is_admin:
            raise forbidden("Only admins can see the leak guard overview.")
        record = await incidents.prompt_runs(prompt_id, request.user.id, True, cursor, 20)
        name = "leak_guard_rows.html" if cursor else "leak_guard_runs.html"
        return fragment(name, g=record, prompt_id=str(prompt_id), admin=True)


HANDLERS: list[Any] = [ManagePages, ManageFragments, AdminLeakGuardFragments]
