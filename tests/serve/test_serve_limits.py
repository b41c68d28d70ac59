"""Upload checks run before queueing: format sniffing, header-only size, pixel and byte limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason="unetkit serve needs the 'serve' extra")

from serve_helpers import png_bytes

from unetkit.serve.limits import Rejected, ServeLimits, check_image, format_bytes, upload_too_large


def encoded(fmt: str, shape: tuple[int, ...] = (20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("BMP", ".bmp")]
)
def test_formats_are_recognised_from_their_bytes(fmt: str, suffix: str) -> None:
    assert check_image(encoded(fmt), "x", ServeLimits()) == (suffix, 30, 20)


def test_float_tiff_header_read_by_tifffile() -> None:
    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((3, 17, 11), dtype=np.float32), photometric="rgb", planarconfig="separate")
    assert check_image(buf.getvalue(), "f.tif", ServeLimits())[1:] == (11, 17)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"hello, not an image", 415, "not an image"),
        (b"%PDF-1.7 ...", 415, "PNG, JPEG, TIFF or BMP"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "corrupt image header"),
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            422,
            "re-save it as PNG, JPEG, TIFF or BMP and upload it again",
        ),
        # An image in a format not read: named, with the fix, not "not an image".
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, 415, "WebP is not supported; convert it to PNG"),
        (b"GIF89a" + b"\x00" * 20, 415, "GIF is not supported; convert it to PNG"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data: bytes, status: int, words: str) -> None:
    with pytest.raises(Rejected) as info:
        check_image(data, "file.bin", ServeLimits())
    assert info.value.status_code == status
    assert words in info.value.detail and "file.bin" in info.value.detail
    assert "\n" not in info.value.detail


def test_pixel_limit_names_the_limit_and_the_option() -> None:
    data = png_bytes(np.zeros((40, 50), dtype=np.uint8))
    assert check_image(data, "a.png", ServeLimits(max_pixels=2000))[1:] == (50, 40)
    with pytest.raises(Rejected) as info:
        check_image(data, "a.png", ServeLimits(max_pixels=1999))
    assert info.value.status_code == 413 and "pixels" in info.value.detail
    assert "50x40 = 2000 pixels" in info.value.detail and "1999" in info.value.detail
    assert "--max-pixels" in info.value.detail


def test_size_refusals_point_to_predict_in_one_line() -> None:
    """Both size refusals name the way around them: unetkit predict reads and tiles a file of any size."""
    data = png_bytes(np.zeros((40, 50), dtype=np.uint8))
    refusals = []
    for limits in (ServeLimits(max_pixels=1999), ServeLimits(max_upload_bytes=len(data) - 1)):
        with pytest.raises(Rejected) as info:
            check_image(data, "a.png", limits)
        refusals.append(info.value.detail)
    refusals.append(upload_too_large(1024, 4096, request=True).detail)
    for detail in refusals:
        assert "go through unetkit predict RUN IMAGE --out DIR (tiled, no size or pixel limit)" in detail
        assert "\n" not in detail


def test_byte_limit_names_the_limit() -> None:
    data = png_bytes(np.zeros((40, 50), dtype=np.uint8))
    with pytest.raises(Rejected) as info:
        check_image(data, "a.png", ServeLimits(max_upload_bytes=len(data) - 1))
    assert info.value.status_code == 413 and "--max-upload-mb" in info.value.detail
    assert info.value.detail.startswith("a.png: the file of ")  # names the file, as every other refusal


def test_decompression_bomb_header_is_a_413() -> None:
    # A PNG header claiming 100000 x 100000 pixels: Pillow refuses it before any pixel is decoded.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)

    def png_chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    with pytest.raises(Rejected) as info:
        check_image(data, "bomb.png", ServeLimits())
    # Worded as any image over --max-pixels (the header's size), not as Pillow's own guard with its limit.
    assert info.value.detail == (
        "bomb.png: image is 100000x100000 = 10000000000 pixels, larger than the limit of 16777216 pixels "
        "(server option --max-pixels); larger images go through unetkit predict RUN IMAGE --out DIR (tiled, "
        "no size or pixel limit)"
    )
    assert info.value.status_code == 413


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP"])
def test_pillows_bomb_guard_does_not_decide_the_pixel_limit(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's --max-pixels decides, whatever Pillow's guard (2 x MAX_IMAGE_PIXELS) says, in every
    format: above Pillow's guard but within --max-pixels is accepted; above it, refused with its size."""
    # The 30 x 20 = 600 pixels image is a decompression bomb for Pillow now.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    suffix = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp"}[fmt]
    assert check_image(encoded(fmt), "x", ServeLimits(max_pixels=600)) == (suffix, 30, 20)
    with pytest.raises(Rejected) as info:
        check_image(encoded(fmt), "x", ServeLimits(max_pixels=599))
    assert "30x20 = 600 pixels, larger than the limit of 599 pixels (server option --max-pixels)" in (
        info.value.detail
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_upload_bytes": 0},
        {"max_pixels": -1},
        {"queue_size": -1},
        {"timeout_s": 0},
        {"store_ttl_s": float("nan")},
    ],
)
def test_limits_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ServeLimits(**kwargs)  # type: ignore[arg-type]


def test_format_bytes() -> None:
    assert format_bytes(50 * 1024 * 1024) == "50 MiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(12) == "12 bytes"
