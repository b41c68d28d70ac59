"""Request limits of ``unetkit serve`` and the cheap checks run before an upload is queued.

Every rejection is a :class:`Rejected` (an HTTP status and a one-line reason). The checks here only read
bytes and image headers (no pixel decoding), so they run on the event loop; decoding happens in the worker,
where a corrupt or truncated file fails inside :func:`unetkit.data.io.read_image` (the same reader as
``unetkit predict``).
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

MIB = 1 << 20

# Magic numbers -> the file suffix ``read_image`` uses to pick its decoder (TIFF has a tifffile fallback).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"II+\x00", ".tif"),  # BigTIFF
    (b"MM\x00+", ".tif"),
    (b"BM", ".bmp"),
)
ACCEPTED_FORMATS = "PNG, JPEG, TIFF or BMP"
# Image formats recognised by their magic number but not read (read_image has no decoder for them): named in
# the refusal, since "not an image" would be wrong for them. A predicate on the first bytes, and the name.
_UNREAD_FORMATS: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", "WebP"),
    (lambda d: d[4:12] in (b"ftypavif", b"ftypavis"), "AVIF"),
    (lambda d: d[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"), "HEIC"),
    (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), "GIF"),
    (lambda d: d[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or d[:4] == b"\xffO\xffQ", "JPEG 2000"),
)
# Multipart framing and the small form fields around the file; the file itself is checked exactly later.
MULTIPART_SLACK = 64 * 1024
# The way around both size limits: the command line reads the file from disk and tiles it, with no limit on
# bytes or pixels, so a refusal for size points there (RUN stays a placeholder: server paths stay private).
PREDICT_INSTEAD = "unetkit predict RUN IMAGE --out DIR (tiled, no size or pixel limit)"


class Rejected(HTTPException):
    """A refused request: HTTP ``status_code`` and a one-line ``detail`` naming the problem and the fix."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)


@dataclass(frozen=True)
class ServeLimits:
    """Limits of one server (all configurable on the command line).

    Attributes:
        max_upload_bytes: largest accepted image file (``--max-upload-mb``).
        max_pixels: largest accepted width x height (``--max-pixels``); larger images would need more memory
            than a request should take, even tiled (probabilities are (K, H, W) float32).
        queue_size: requests allowed to wait beyond the ``workers`` running ones (``--queue``); more get 503.
        timeout_s: seconds a request may wait + run before it gets 504 (``--timeout``).
        store_items / store_bytes / store_ttl_s: bounds of the result store (``--keep``, ``--keep-mb``,
            ``--ttl``).
    """

    max_upload_bytes: int = 50 * MIB
    max_pixels: int = 4096 * 4096
    queue_size: int = 16
    timeout_s: float = 120.0
    store_items: int = 256
    store_bytes: int = 1024 * MIB
    store_ttl_s: float = 3600.0

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "store_items", "store_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        if not isinstance(self.queue_size, int) or self.queue_size < 0:
            raise ValueError(f"queue_size must be an int >= 0, got {self.queue_size!r}.")
        for name in ("timeout_s", "store_ttl_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}.")


def format_bytes(n: int) -> str:
    """``52428800`` -> ``'50 MiB'`` (one decimal below 10)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 and value != int(value) else f"{value:.0f} {unit}"
    return f"{n} bytes"


def upload_too_large(
    limit: int, got: int | None = None, request: bool = False, filename: str | None = None
) -> Rejected:
    """413 naming the limit (and ``filename`` when known); ``request``: refused from the request's size
    (before reading the upload, when the file's name is not known yet)."""
    what = f"{filename}: the file" if filename else "request" if request else "upload"
    got_text = f" of {format_bytes(got)}" if got is not None else ""
    return Rejected(
        413,
        f"{what}{got_text} is larger than the upload limit of {format_bytes(limit)} "
        f"(server option --max-upload-mb); larger files go through {PREDICT_INSTEAD}",
    )


def sniff_suffix(data: bytes, filename: str) -> str:
    """The image suffix of ``data`` from its magic number; :class:`Rejected` (415) for anything else."""
    if not data:
        raise Rejected(400, f"{filename}: the upload is empty; send an image file")
    for magic, suffix in _SIGNATURES:
        if data.startswith(magic):
            return suffix
    for is_format, name in _UNREAD_FORMATS:
        if is_format(data):
            raise Rejected(
                415,
                f"{filename}: {name} is not supported; convert it to PNG (or JPEG, TIFF, BMP) and upload it",
            )
    raise Rejected(415, f"{filename}: not an image; send a {ACCEPTED_FORMATS} file")


def _header_size(data: bytes, suffix: str) -> tuple[int, int]:
    """(width, height) as Pillow reads it from the header; Pillow's errors for a bad header propagate."""
    try:
        # Image.open reads the header; pixels are decoded later (and only by the worker).
        with Image.open(io.BytesIO(data)) as img:
            return int(img.size[0]), int(img.size[1])
    except Image.DecompressionBombError:
        # Pillow's own guard (2 x Image.MAX_IMAGE_PIXELS) refused the header's size, naming only the pixel
        # count. The server's limit is --max-pixels, which check_image reports with width x height: read the
        # header again through the format's plugin, which opens without that guard (and decodes nothing).
        factory = Image.OPEN[Image.registered_extensions()[suffix]][0]
        with factory(io.BytesIO(data), "") as img:
            return int(img.size[0]), int(img.size[1])


def image_size(data: bytes, suffix: str, filename: str) -> tuple[int, int]:
    """(width, height) from the header only; :class:`Rejected` (422) when the header cannot be read."""
    try:
        return _header_size(data, suffix)
    except (OSError, SyntaxError, ValueError) as err:
        if suffix == ".tif":
            # Pillow cannot open some valid TIFFs (float32, 16-bit RGB); read_image falls back to tifffile.
            try:
                import tifffile

                with tifffile.TiffFile(io.BytesIO(data)) as tif:
                    shape = tif.series[0].shape
                    axes = tif.series[0].axes
                h = shape[axes.index("Y")] if "Y" in axes else shape[-2]
                w = shape[axes.index("X")] if "X" in axes else shape[-1]
                return int(w), int(h)
            except Exception as tiff_err:  # tifffile raises many types for bad files
                raise Rejected(422, f"{filename}: cannot read the TIFF header ({tiff_err})") from tiff_err
        # Pillow names the BytesIO object in some messages; the client needs only the reason.
        reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(err)) or type(err).__name__
        raise Rejected(
            422,
            f"{filename}: corrupt image header ({reason}); re-save it as {ACCEPTED_FORMATS} and upload it "
            "again",
        ) from err


def check_image(data: bytes, filename: str, limits: ServeLimits) -> tuple[str, int, int]:
    """Validate an upload before it is queued: size, format, header, pixel count.

    Returns:
        (suffix, width, height). Raises :class:`Rejected`: 413 too large (bytes or pixels), 415 not an image,
        422 unreadable header, 400 empty.
    """
    if len(data) > limits.max_upload_bytes:
        raise upload_too_large(limits.max_upload_bytes, len(data), filename=filename)
    suffix = sniff_suffix(data, filename)
    width, height = image_size(data, suffix, filename)
    if width < 1 or height < 1:
        raise Rejected(422, f"{filename}: image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise Rejected(
            413,
            f"{filename}: image is {width}x{height} = {width * height} pixels, larger than the limit of "
            f"{limits.max_pixels} pixels (server option --max-pixels); larger images go through "
            f"{PREDICT_INSTEAD}",
        )
    return suffix, width, height


class _BodyTooLarge(Rejected):
    """Raised inside ``receive`` once the body passes the limit; FastAPI re-raises HTTPExceptions from body
    parsing as they are, so the client gets this 413 and its message."""


class BodySizeLimit:
    """ASGI middleware: 413 for a request body above ``max_bytes`` on the ``paths`` given, before the whole
    body is read (by ``Content-Length`` at once, else while streaming).

    Written here rather than using FastAPI/Starlette's ``max_body_size`` because that answers a bare
    "Content Too Large" and the server must name the limit and the option that sets it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...], upload_limit: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None and length > self.max_bytes:
            detail = upload_too_large(self.upload_limit, length, request=True).detail
            logger.info("%s %s: 413 %s", scope.get("method", ""), scope["path"], detail)
            await send_json(send, 413, detail)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(413, upload_too_large(self.upload_limit, request=True).detail)
            return message

        await self.app(scope, limited_receive, send)


async def send_json(send: Send, status: int, detail: str) -> None:
    """Answer a request from ASGI middleware: ``status`` with the one-line JSON ``detail`` of every error."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
