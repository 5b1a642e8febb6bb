"""Media samples end to end: upload through the API, re-encoded and stripped, served from disk
(the default) and from S3 (moto's S3 server on loopback), listed with the samples."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.env import settings_env
from tests.media.images import CAMERA_SERIAL, GPS_IFD, gif, jpeg_with_exif, png, webp
from tests.problems import assert_problem
from tests.prompts.helpers import create_prompt


async def _sample(client: httpx.AsyncClient, creator: Any, **prompt: Any) -> tuple[str, str]:
    p = await create_prompt(client, creator, **prompt)
    r = await client.post(
        f"/prompts/{p['id']}/samples",
        json={"output": "A red and blue flag.", "title": "Flag"},
        headers=creator.headers,
    )
    assert r.status_code == 201, r.text
    return p["id"], r.json()["id"]


async def _upload(
    client: httpx.AsyncClient,
    account: Any,
    prompt_id: str,
    sample_id: str,
    data: bytes,
    *,
    name: str = "picture.png",
    content_type: str = "image/png",
    alt: str = "",
) -> httpx.Response:
    return await client.post(
        f"/prompts/{prompt_id}/samples/{sample_id}/media",
        files={"image": (name, data, content_type)},
        data={"alt": alt} if alt else None,
        headers=account.headers,
    )


async def _fetch(hub_server: str, url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub_server, follow_redirects=True) as c:
        return await c.get(url)


async def test_jpeg_is_reencoded_upright_without_exif_and_served_cacheable(
    client, register, hub_server
):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    original = jpeg_with_exif(64, 32, orientation=6)
    assert b"SERIAL-123456" in original and b"SecretCam" in original

    # The file name and declared type are ignored: the content says JPEG.
    r = await _upload(
        client, creator, prompt_id, sample_id, original, name="x.png", alt="Flag, rotated"
    )
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["content_type"] == "image/jpeg"
    # Orientation 6 applied to the pixels: the 64×32 photo is stored 32×64.
    assert (media["width"], media["height"]) == (32, 64)
    assert media["alt"] == "Flag, rotated"
    assert media["url"].startswith("/media/") and media["thumbnail_url"].endswith(".thumb.webp")

    served = await _fetch(hub_server, media["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    assert "max-age=31536000" in served.headers["cache-control"]
    assert b"SERIAL-123456" not in served.content and b"SecretCam" not in served.content
    img = Image.open(io.BytesIO(served.content))
    assert img.size == (32, 64)
    exif = img.getexif()
    assert CAMERA_SERIAL not in exif and not exif.get_ifd(GPS_IFD) and 0x0112 not in exif
    assert len(served.content) == media["bytes"]

    thumb = await _fetch(hub_server, media["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    timg = Image.open(io.BytesIO(thumb.content))
    assert timg.format == "WEBP" and timg.size == (
        media["thumbnail_width"],
        media["thumbnail_height"],
    )

    # Anyone who sees the samples sees their images, in upload order.
    listed = (await client.get(f"/prompts/{prompt_id}/samples")).json()["items"]
    assert [m["id"] for m in listed[0]["media"]] == [media["id"]]


async def test_png_keeps_alpha_and_loses_text_chunks_webp_accepted(client, register, hub_server):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, sample_id, png(40, 30, text="GPS 48.85N"))
    assert r.status_code == 201, r.text
    body = (await _fetch(hub_server, r.json()["url"])).content
    assert b"GPS 48.85N" not in body
    img = Image.open(io.BytesIO(body))
    assert img.format == "PNG" and img.mode == "RGBA" and not img.text

    r = await _upload(client, creator, prompt_id, sample_id, webp(), content_type="image/webp")
    assert r.status_code == 201 and r.json()["content_type"] == "image/webp"


async def test_big_images_are_thumbnailed(client, register, hub_server):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, sample_id, png(2000, 1000, mode="RGB"))
    assert r.status_code == 201, r.text
    media = r.json()
    assert (media["width"], media["height"]) == (2000, 1000)
    assert (media["thumbnail_width"], media["thumbnail_height"]) == (480, 240)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><script>alert(1)</script></html>", "not a PNG, JPEG or WebP"),
        (gif(), "not a PNG, JPEG or WebP"),
        (png(9000, 10, mode="1"), "each side may be at most 8000"),
        (png(5500, 5000, mode="1"), "at most 25,000,000 are accepted"),
        (png()[:60], "could not be"),
        (b"", "empty"),
    ],
    ids=["html-named-png", "gif", "too-wide", "too-many-pixels", "truncated", "empty"],
)
async def test_what_is_not_an_acceptable_image_is_a_422_naming_image(
    client, register, data, reason
):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, sample_id, data)
    assert_problem(r, 422)
    assert r.json()["invalid_params"][0]["name"] == "image"
    assert reason in r.json()["detail"]
    listed = (await client.get(f"/prompts/{prompt_id}/samples")).json()["items"]
    assert listed[0]["media"] == []


async def test_too_many_bytes_is_413(client, register):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, sample_id, os.urandom(5 * 1024 * 1024 + 10))
    assert_problem(r, 413)
    assert "at most 5,242,880 bytes" in r.json()["detail"]


async def test_only_the_owner_and_only_four_per_sample(client, register, hub_server):
    creator, other = await register(), await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, other, prompt_id, sample_id, png())
    assert_problem(r, 403)
    r = await client.post(
        f"/prompts/{prompt_id}/samples/{sample_id}/media", files={"image": ("a.png", png())}
    )
    assert r.status_code == 401
    other_prompt, other_sample = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, other_sample, png())
    assert_problem(r, 404)
    r = await client.post(
        f"/prompts/{prompt_id}/samples/{sample_id}/media",
        data={"alt": "no file"},
        files={"other": ("a.txt", b"x")},
        headers=creator.headers,
    )
    assert r.status_code == 400, r.text
    for _ in range(4):
        assert (await _upload(client, creator, prompt_id, sample_id, png())).status_code == 201
    r = await _upload(client, creator, prompt_id, sample_id, png())
    assert_problem(r, 409)
    assert "at most 4 images" in r.json()["detail"]


async def test_deleting_an_image_or_its_sample_removes_the_files(client, register, hub_server):
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    first = (await _upload(client, creator, prompt_id, sample_id, png())).json()
    second = (await _upload(client, creator, prompt_id, sample_id, webp())).json()

    r = await client.delete(
        f"/prompts/{prompt_id}/samples/{sample_id}/media/{first['id']}", headers=creator.headers
    )
    assert r.status_code == 204
    assert (await _fetch(hub_server, first["url"])).status_code == 404
    assert (await _fetch(hub_server, first["thumbnail_url"])).status_code == 404
    assert (await _fetch(hub_server, second["url"])).status_code == 200

    r = await client.delete(f"/prompts/{prompt_id}/samples/{sample_id}", headers=creator.headers)
    assert r.status_code == 204
    assert (await _fetch(hub_server, second["url"])).status_code == 404
    # Keys that try to leave the media directory are simply not found.
    for bad in ("/media/../pyproject.toml", "/media/%2e%2e/x.png", "/media/a/b/c.png"):
        assert (await _fetch(hub_server, bad)).status_code == 404


async def test_private_mode_prompt_shows_images_never_the_template(client, register, hub_server):
    creator = await register()
    marker = "SECRET-TEMPLATE-MARKER-7731"
    prompt_id, sample_id = await _sample(
        client, creator, private_mode=True, template=f"{marker} about {{{{topic}}}}"
    )
    media = (await _upload(client, creator, prompt_id, sample_id, png())).json()
    listed = await client.get(f"/prompts/{prompt_id}/samples")
    assert listed.json()["items"][0]["media"][0]["id"] == media["id"]
    assert marker not in listed.text
    page = await _fetch(hub_server, f"/prompts/{prompt_id}")
    assert media["thumbnail_url"] in page.text and marker not in page.text


# --- S3 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on loopback, for this module."""
    from moto.server import ThreadedMotoServer

    from hub.dev.embedded import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_settings(moto_s3: str) -> Iterator[dict[str, str]]:
    """Point the running hub at a fresh bucket on moto for one test, then back at the disk."""
    import boto3

    bucket = f"media-{os.urandom(4).hex()}"
    env = {
        "HUB_S3_BUCKET": bucket,
        "HUB_S3_ENDPOINT_URL": moto_s3,
        "HUB_S3_ACCESS_KEY_ID": "test-key",
        "HUB_S3_SECRET_ACCESS_KEY": "test-secret",
        "HUB_S3_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    s3.create_bucket(Bucket=bucket)
    with settings_env(env):
        yield {**env, "client": s3}  # type: ignore[dict-item]


async def test_s3_storage_with_presigned_redirects(client, register, hub_server, s3_settings):
    s3 = s3_settings["client"]
    bucket = s3_settings["HUB_S3_BUCKET"]
    creator = await register()
    prompt_id, sample_id = await _sample(client, creator)
    r = await _upload(client, creator, prompt_id, sample_id, jpeg_with_exif(), alt="On S3")
    assert r.status_code == 201, r.text
    media = r.json()

    key = "media/" + media["url"].removeprefix("/media/")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert b"SERIAL-123456" not in stored

    async with httpx.AsyncClient(base_url=hub_server) as c:
        redirect = await c.get(media["url"])
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(s3_settings["HUB_S3_ENDPOINT_URL"]) and "Signature" in location
    assert "max-age=1800" in redirect.headers["cache-control"]
    served = await _fetch(hub_server, media["url"])
    assert served.status_code == 200 and served.content == stored
    assert Image.open(io.BytesIO(served.content)).size == (32, 64)

    r = await client.delete(
        f"/prompts/{prompt_id}/samples/{sample_id}/media/{media['id']}", headers=creator.headers
    )
    assert r.status_code == 204
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"media/{prompt_id}/")
    assert listed.get("KeyCount", 0) == 0
