"""Test images made on the spot with Pillow (no binary fixtures in the repository)."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112
CAMERA_SERIAL = 0xA431  # BodySerialNumber


def jpeg_with_exif(width: int = 64, height: int = 32, orientation: int = 6) -> bytes:
    """A JPEG carrying a camera serial, a GPS position and an orientation (rotate 90° CW)."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):
        for y in range(height):
            img.putpixel((x, y), (30, 30, 200))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[CAMERA_SERIAL] = "SERIAL-123456"
    exif[0x010F] = "SecretCam"  # Make
    exif.get_ifd(GPS_IFD)[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def png(width: int = 40, height: int = 30, mode: str = "RGBA", text: str = "") -> bytes:
    img = Image.new(mode, (width, height))
    out = io.BytesIO()
    if text:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)
        img.save(out, "PNG", pnginfo=info)
    else:
        img.save(out, "PNG")
    return out.getvalue()


def webp(width: int = 30, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, "WEBP")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    return out.getvalue()
