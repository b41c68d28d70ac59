"""The HTTP API in-process (FastAPI TestClient / httpx ASGI transport): results equal the library's, every
bad upload gets a 4xx with a one-line reason and the server keeps serving, limits, queue, timeout, token."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette now prefers the httpx2 fork; httpx works
    from fastapi.testclient import TestClient
from serve_helpers import (
    TINY,
    png_bytes,
    predict_cli,
    run_fresh_python,
    save_tiny_model,
    synthetic_slice,
    with_instance_record,
)

from unetkit.data.io import read_image
from unetkit.inference.backends import load_predictor
from unetkit.inference.instances import instances_from_mask
from unetkit.palette import class_palette, palette_for
from unetkit.serve import pool as pool_module
from unetkit.serve.app import create_app
from unetkit.serve.limits import ServeLimits
from unetkit.viz.instances import draw_instance_outlines
from unetkit.viz.overlay import overlay

LIMITS = ServeLimits(max_upload_bytes=1_000_000, max_pixels=600 * 600)


@contextlib.contextmanager
def serving(model: Path, **kwargs: Any) -> Iterator[TestClient]:
    kwargs.setdefault("limits", LIMITS)
    app = create_app(model, **kwargs)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def client(trained_model_dir: Path) -> Iterator[TestClient]:
    with serving(trained_model_dir) as c:
        yield c


def post(
    client: TestClient | httpx.Client, data: bytes, name: str = "x.png", **options: Any
) -> httpx.Response:
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
    return client.post("/api/predict", files={"file": (name, data, "application/octet-stream")}, data=form)


def two_channel_tiff() -> bytes:
    """A (32, 32, 2) TIFF: two microscope channels, which a gray or RGB model cannot take."""
    import tifffile

    buffer = io.BytesIO()
    pair = np.zeros((32, 32, 2), np.uint8)
    pair[..., 1] = 9  # data, not an opaque alpha
    tifffile.imwrite(buffer, pair, photometric="minisblack", planarconfig="contig")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img)


def one_line(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, detail
    return detail


# -------------------------------------------------------------------------------------------- model, health


def test_model_and_health_describe_the_server(client: TestClient, trained_model_dir: Path) -> None:
    info = client.get("/api/model").json()
    assert info["architecture"] == "unet" and info["in_channels"] == 1 and info["num_classes"] == 2
    palette = palette_for(None, 2, class_names=["membrane", "cell"])  # membrane is a class: not black
    assert [c["name"] for c in info["classes"]] == ["membrane", "cell"]
    assert [c["color"] for c in info["classes"]] == [
        "#{:02x}{:02x}{:02x}".format(*(int(v) for v in p)) for p in palette
    ]
    geometry = load_predictor(trained_model_dir).geometry
    assert info["geometry"] == {
        "size_divisor": geometry.size_divisor,
        "border": 0,
        "fixed_input_size": None,
        "pad_multiple": geometry.pad_multiple,
        "min_pass_side": geometry.min_pass_side,
    }
    assert info["limits"]["max_pixels"] == 600 * 600 and info["backend"] == "torch"
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["pool"]["capacity"] == 1 + LIMITS.queue_size
    # README: /api/health names the engine as /api/model does, precision included (None: torch as asked).
    assert {k: health[k] for k in ("backend", "device", "precision")} == {
        k: info[k] for k in ("backend", "device", "precision")
    }


# -------------------------------------------------------------------------------------------- predictions


def test_prediction_equals_the_library_on_the_same_file(
    client: TestClient, trained_model_dir: Path, slice_path: Path
) -> None:
    response = post(client, slice_path.read_bytes(), slice_path.name, instances="components", probs=True)
    assert response.status_code == 200, response.text
    result = response.json()
    image = read_image(slice_path, channels=1)
    mask, probs = load_predictor(trained_model_dir).predict(image)
    h, w = mask.shape
    assert (result["width"], result["height"], result["channels"]) == (w, h, 1)
    counts = np.bincount(mask.ravel(), minlength=2)
    assert [c["pixels"] for c in result["classes"]] == counts.tolist()
    assert [c["fraction"] for c in result["classes"]] == (counts / mask.size).tolist()
    assert 0.05 < result["classes"][1]["fraction"] < 0.95  # the trained model's mask is not trivial
    _, count = instances_from_mask(mask, [1], "components")
    assert result["instances"] == {"method": "components", "count": count}

    files = {kind: client.get(link) for kind, link in result["links"].items()}
    assert all(r.status_code == 200 for r in files.values())
    np.testing.assert_array_equal(decode_png(files["mask"].content), mask)
    np.testing.assert_array_equal(decode_png(files["input"].content), image[..., 0])
    labels = decode_png(files["instances"].content)
    # Instances asked for: the overlay outlines each, as `unetkit predict --instances` does.
    expected_overlay = draw_instance_outlines(overlay(image, mask, class_palette(2), 0.5), labels)
    np.testing.assert_array_equal(decode_png(files["overlay"].content), expected_overlay)
    assert labels.dtype == np.uint16 and int(labels.max()) == count
    saved = np.load(io.BytesIO(files["probs"].content))
    assert saved.dtype == np.float16 and saved.shape == probs.shape
    np.testing.assert_allclose(saved.astype(np.float32), probs, atol=1e-3)
    assert files["mask"].headers["content-type"] == "image/png"
    assert client.get(f"/api/results/{result['id']}").json() == result


@pytest.mark.parametrize("options", [{"tta": "flips"}, {"tile_size": 64}, {"tta": "d4", "tile_size": 96}])
def test_options_reach_the_predictor(
    client: TestClient, trained_model_dir: Path, options: dict[str, Any]
) -> None:
    image = synthetic_slice(160, seed=1)
    result = post(client, png_bytes(image), **options).json()
    tta_values: dict[str, bool | str] = {"flips": "flips", "d4": True}
    tta = tta_values.get(options.get("tta", ""), False)
    predictor = load_predictor(trained_model_dir, tile_size=options.get("tile_size"), tta=tta)
    mask, _ = predictor.predict(image[..., None])
    np.testing.assert_array_equal(decode_png(client.get(result["links"]["mask"]).content), mask)
    assert result["options"]["tta"] == options.get("tta", "model")
    from unetkit.inference.tta import resolve_tta

    # The views averaged ("none": one pass; the model records no TTA for "model").
    assert result["tta"] == (",".join(resolve_tta(tta)) or "none")


def test_by_default_the_model_is_served_with_the_tta_its_run_scored(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """A plan's mirror TTA (extra.tta): predict uses it by default, and so does serve (a trial's served
    masks differed from predict's and from the run's numbers)."""
    import json
    import shutil

    model = shutil.copytree(trained_model_dir, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config.setdefault("extra", {})["tta"] = "identity,hflip"
    (model / "config.json").write_text(json.dumps(config))
    image = synthetic_slice(160, seed=1)
    with serving(model) as client:
        default = post(client, png_bytes(image)).json()
        plain = post(client, png_bytes(image), tta="none").json()
        served = {r["tta"]: decode_png(client.get(r["links"]["mask"]).content) for r in (default, plain)}
    assert default["options"]["tta"] == "model" and set(served) == {"identity,hflip", "none"}
    mirrored, _ = load_predictor(model, tta="identity,hflip").predict(image[..., None])
    np.testing.assert_array_equal(served["identity,hflip"], mirrored)
    as_is, _ = load_predictor(model).predict(image[..., None])
    np.testing.assert_array_equal(served["none"], as_is)


def test_overlay_is_blended_again_with_another_alpha(client: TestClient, slice_path: Path) -> None:
    result = post(client, slice_path.read_bytes(), alpha=0.3).json()
    image = decode_png(client.get(result["links"]["input"]).content)
    mask = decode_png(client.get(result["links"]["mask"]).content)
    stored = decode_png(client.get(result["links"]["overlay"]).content)
    np.testing.assert_array_equal(stored, overlay(image, mask, class_palette(2), 0.3))
    again = client.get(result["links"]["overlay"], params={"alpha": 0.9, "download": True})
    assert again.headers["content-disposition"].startswith("attachment")
    np.testing.assert_array_equal(decode_png(again.content), overlay(image, mask, class_palette(2), 0.9))


def test_the_models_class_colours_are_shown_and_drawn(
    trained_model_dir: Path, slice_path: Path, tmp_path: Path
) -> None:
    import shutil

    from unetkit.model_files.model_config import ModelConfig

    model = Path(shutil.copytree(trained_model_dir, tmp_path / "model"))
    config = ModelConfig.load(model)
    config.class_colors = [[128, 64, 128], [250, 170, 30]]  # as classes.json named them
    config.save(model)
    colours = np.array(config.class_colors, dtype=np.uint8)
    with serving(model) as c:
        legend = ["#804080", "#faaa1e"]
        assert [k["color"] for k in c.get("/api/model").json()["classes"]] == legend
        result = post(c, slice_path.read_bytes(), alpha=0.3).json()
        assert [k["color"] for k in result["classes"]] == legend
        image = decode_png(c.get(result["links"]["input"]).content)
        with Image.open(io.BytesIO(c.get(result["links"]["mask"]).content)) as img:
            mask = np.asarray(img)
            np.testing.assert_array_equal(np.reshape((img.getpalette() or [])[:6], (2, 3)), colours)
        assert (mask == 1).any()  # the trained model finds cells: the overlay draws class 1
        stored = decode_png(c.get(result["links"]["overlay"]).content)
        np.testing.assert_array_equal(stored, overlay(image, mask, colours, 0.3))
        again = c.get(result["links"]["overlay"], params={"alpha": 0.9}).content
        np.testing.assert_array_equal(decode_png(again), overlay(image, mask, colours, 0.9))


# -------------------------------------------------------------------------------------------- instances


def test_instances_auto_runs_the_models_own_method_as_predict_does(
    trained_model_dir: Path, slice_path: Path, tmp_path: Path
) -> None:
    # A model that records watershed as its method: auto must run watershed, not the components default.
    model = with_instance_record(trained_model_dir, tmp_path / "model", instance_method="watershed")
    cli = predict_cli(model, slice_path, tmp_path / "cli", "--instances", "auto")
    with serving(model) as c:
        assert c.get("/api/model").json()["instances"] == {
            "choices": ["none", "auto", "components", "watershed"],
            "auto": "watershed",
            "own": True,
            "default": "auto",
        }
        replies = {
            m: post(c, slice_path.read_bytes(), slice_path.name, instances=m) for m in ("auto", "watershed")
        }
        assert all(r.status_code == 200 for r in replies.values()), replies
        auto, named = (replies[m].json() for m in ("auto", "watershed"))
        files = {
            m: {k: c.get(link).content for k, link in r["links"].items()}
            for m, r in (("auto", auto), ("watershed", named))
        }
        components = post(c, slice_path.read_bytes(), slice_path.name, instances="components").json()
    # The same kind of result as naming the method: count, method, the same files, the same labels.
    assert auto["instances"] == named["instances"] == {"method": "watershed", "count": cli["count"]}
    assert auto["options"]["instances"] == "auto" and auto["files"] == named["files"]
    assert components["instances"]["count"] != cli["count"]  # the two methods are told apart here
    labels = decode_png(files["auto"]["instances"])
    np.testing.assert_array_equal(labels, cli["labels"])
    np.testing.assert_array_equal(labels, decode_png(files["watershed"]["instances"]))
    # Overlays outline no instances of a semantic model, in predict as here: both equal the class overlay.
    np.testing.assert_array_equal(decode_png(files["auto"]["overlay"]), cli["overlay"])


def test_instances_auto_without_a_recorded_method_is_components(client: TestClient) -> None:
    assert client.get("/api/model").json()["instances"] == {
        "choices": ["none", "auto", "components", "watershed"],
        "auto": "components",
        "own": False,
        "default": "none",
    }
    data = png_bytes(synthetic_slice(96))
    auto, named = (post(client, data, instances=m).json() for m in ("auto", "components"))
    assert auto["instances"] == named["instances"] and auto["instances"]["method"] == "components"


def test_without_instances_a_model_trained_on_instances_gets_its_own_method(
    trained_model_dir: Path, client: TestClient, tmp_path: Path
) -> None:
    # As `unetkit fit` records a model trained on instance labels (DSB nuclei: components, min_size chosen).
    model = with_instance_record(
        trained_model_dir, tmp_path / "model", instance_method="components", instance_classes=[1]
    )
    data = png_bytes(synthetic_slice(96))
    with serving(model) as c:
        default = post(c, data).json()
        named = post(c, data, instances="components").json()
        empty = post(c, data, instances="").json()  # a form that sends the field empty: the default
    assert default["options"]["instances"] == "auto"
    assert default["instances"] == named["instances"] == empty["instances"]
    assert default["instances"]["method"] == "components" and "instances" in default["files"]
    # A model that records no method: none, as before (no instances.png).
    plain = post(client, data).json()
    assert plain["options"]["instances"] == "none" and plain["instances"] is None
    assert "instances" not in plain["files"]


def test_a_multi_class_semantic_model_counts_no_instances_by_default_and_offers_what_runs(
    tmp_path: Path,
) -> None:
    # An 11-class street-scene model (CamVid): boundary "fits" by class count (3 or more) but needs exactly
    # two foreground classes, so every request with it failed; and a default instance count would merge
    # all classes but the first into blobs.
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.model_files.model_io import save_model
    from unetkit.models import create_model

    kwargs = {"in_channels": 1, "num_classes": 11, **TINY}
    names = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "person", "bike"]
    config = ModelConfig("unet", kwargs, names, mean=[0.5], std=[0.25])
    model = save_model(create_model("unet", **kwargs), config, tmp_path / "street")
    data = png_bytes(synthetic_slice(64))
    with serving(model) as c:
        info = c.get("/api/model").json()["instances"]
        assert info == {
            # energy reads the classes as levels: it runs (its count is the user's to judge); boundary not
            "choices": ["none", "auto", "components", "energy", "watershed"],
            "auto": "components",
            "own": False,
            "default": "none",
        }
        for method in info["choices"]:  # every method offered runs
            response = post(c, data, instances=method)
            assert response.status_code == 200, (method, response.text)
        assert post(c, data).json()["instances"] is None
    # As unetkit fit saves it now (instance_target "semantic": plain classes), energy is not offered either.
    fitted = ModelConfig("unet", kwargs, names, mean=[0.5], std=[0.25], extra={"instance_target": "semantic"})
    model = save_model(create_model("unet", **kwargs), fitted, tmp_path / "street_fit")
    with serving(model) as c:
        assert c.get("/api/model").json()["instances"]["choices"] == [
            "none",
            "auto",
            "components",
            "watershed",
        ]


def test_instances_come_as_ids_in_colour_and_as_the_overlays_outlines(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    # A model trained on instance labels (DSB nuclei): the 16-bit id file looks black in any viewer, so the
    # same instances come in colour too, and the overlay's outlines alone, for the page to draw.
    from skimage.segmentation import find_boundaries

    from unetkit.viz.instances import instance_colors

    model = with_instance_record(trained_model_dir, tmp_path / "model", instance_method="components")
    with serving(model) as c:
        result = post(c, png_bytes(synthetic_slice(96)), alpha=0.5).json()
        files = {kind: decode_png(c.get(link).content) for kind, link in result["links"].items()}
    labels, colour, outlines = files["instances"], files["instances_color"], files["outlines"]
    assert labels.max() == result["instances"]["count"] > 1
    np.testing.assert_array_equal(colour, instance_colors(int(labels.max()))[labels])
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    assert outlines.shape == (*labels.shape, 4)
    np.testing.assert_array_equal(outlines[..., 3] > 0, edge)
    # The outlines are the overlay's, pixel for pixel: the page draws what the overlay download shows.
    np.testing.assert_array_equal(outlines[edge, :3], files["overlay"][edge])


def test_more_instances_than_a_16_bit_png_holds_come_in_colour_with_a_warning(
    trained_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past 65535 ids instances.png cannot hold them: the count and the colour views still come back, and
    # the warning names predict's 32-bit TIFF (the threshold itself: tests/inference/test_instances_32bit.py).
    from unetkit.inference import writers

    monkeypatch.setattr(writers, "instances_suffix", lambda labels: ".tif")
    model = with_instance_record(trained_model_dir, tmp_path / "model", instance_method="components")
    with serving(model) as c:
        result = post(c, png_bytes(synthetic_slice(96)), name="slide.png").json()
    count = result["instances"]["count"]
    assert count > 1
    assert "instances" not in result["files"] and {"instances_color", "outlines"} <= set(result["files"])
    assert result["warnings"] == [
        f"slide.png: {count} objects, more than a 16-bit instances.png holds (65535), so it is not written; "
        "unetkit predict writes them as a 32-bit TIFF"
    ]


def test_every_request_logs_one_line_naming_the_file_and_outcome(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="unetkit.serve.app"):
        assert post(client, png_bytes(synthetic_slice(64)), name="cells 1.png").status_code == 200
        assert post(client, b"these are notes", name="notes.png").status_code == 415
        assert post(client, png_bytes(synthetic_slice(64)), tta="wrong").status_code == 422
    lines = [r.getMessage() for r in caplog.records if r.name == "unetkit.serve.app"]
    assert len(lines) == 3, lines
    assert lines[0].startswith("predict cells 1.png (") and ": 200 64x64" in lines[0], lines
    assert lines[1].startswith("predict notes.png (15 bytes): 415 notes.png: not an image"), lines
    assert lines[2].startswith("POST /api/predict: 422 tta: got 'wrong'"), lines


def test_the_readers_log_lines_name_the_clients_file(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-check: "opaque alpha channel of /tmp/unetkit-serve-.../upload.png dropped" named the temp file."""
    gray = synthetic_slice(64)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    with caplog.at_level("DEBUG", logger="unetkit.data.io"):
        assert post(client, png_bytes(rgba), name="my photo.png").status_code == 200
    said = [r.getMessage() for r in caplog.records if "alpha" in r.getMessage()]
    assert said and all("upload-my_photo.png" in m for m in said), said


def test_the_page_preselects_the_models_own_method_before_it_loads(client: TestClient) -> None:
    # The page's menu as served (before its script asks /api/model, e.g. while it waits for a token).
    html = client.get("/").text
    assert '<option value="auto" selected>' in html and html.count(" selected>") == 2  # tta + instances


def test_a_boundary_model_offers_its_method_and_refuses_others_listing_the_choices(tmp_path: Path) -> None:
    from unetkit.data.instance_targets import instance_hint

    model = with_instance_record(
        save_tiny_model(tmp_path / "tiny", num_classes=3), tmp_path / "model", **instance_hint("boundary")
    )
    data = png_bytes(synthetic_slice(64))
    with serving(model) as c:
        info = c.get("/api/model").json()["instances"]
        assert info == {
            "choices": ["none", "auto", "boundary", "components", "watershed"],
            "auto": "boundary",
            "own": True,
            "default": "auto",
        }
        auto = post(c, data, instances="auto")
        refused = post(c, data, instances="energy")  # a registered method this model was not trained for
    assert auto.status_code == 200 and auto.json()["instances"]["method"] == "boundary"
    assert "instances" in auto.json()["files"]
    assert refused.status_code == 422
    assert one_line(refused) == (
        "instances must be one of none, auto, boundary, components, watershed; got 'energy'"
    )


def test_instances_auto_with_an_unusable_recorded_method_says_why(model_dir: Path, tmp_path: Path) -> None:
    model = with_instance_record(model_dir, tmp_path / "model", instance_method="maskrcnn")
    with serving(model) as c:
        info = c.get("/api/model").json()["instances"]
        response = post(c, png_bytes(synthetic_slice(64)), instances="auto")
        assert post(c, png_bytes(synthetic_slice(64)), instances="components").status_code == 200
    assert info["auto"] is None and info["own"] is False  # the page does not pick auto for this model
    assert response.status_code == 422
    assert one_line(response).startswith(
        "instances=auto: the model config's extra.instance_method is 'maskrcnn'"
    )


def test_client_file_names_never_become_paths(client: TestClient, tmp_path: Path) -> None:
    response = post(client, png_bytes(synthetic_slice(64)), name="../../../../tmp/evil.png")
    assert response.status_code == 200
    assert response.json()["filename"] == "evil.png"
    assert not Path("/tmp/evil.png").exists()
    for path in ("/api/results/../../etc/passwd", "/api/results/%2e%2e%2f%2e%2e%2fetc/mask.png"):
        assert client.get(path).status_code in (404, 422)
    rid = response.json()["id"]
    assert client.get(f"/api/results/{rid}/config.json").status_code == 422
    assert client.get(f"/api/results/{rid}/..%2Fmask.png").status_code in (404, 422)


def test_file_names_are_cleaned_for_messages() -> None:
    from unetkit.serve.app import _clean_filename

    assert _clean_filename("C:\\Users\\me\\cells\x07.png") == "cells.png"
    assert _clean_filename("a/b/\n\t") == "upload"
    assert _clean_filename(None) == "upload"
    assert len(_clean_filename("x" * 500)) == 120


def test_results_can_be_deleted_and_missing_files_are_explained(client: TestClient) -> None:
    result = post(client, png_bytes(synthetic_slice(64))).json()
    missing = client.get(f"/api/results/{result['id']}/instances.png")
    assert missing.status_code == 404 and "instances=" in one_line(missing)
    assert client.delete(f"/api/results/{result['id']}").status_code == 204
    gone = client.get(result["links"]["mask"])
    assert gone.status_code == 404 and "expired" in one_line(gone)


def test_results_expire(trained_model_dir: Path) -> None:
    limits = ServeLimits(store_ttl_s=0.3)
    with serving(trained_model_dir, limits=limits) as c:
        result = post(c, png_bytes(synthetic_slice(64))).json()
        assert c.get(result["links"]["mask"]).status_code == 200
        time.sleep(0.5)
        assert c.get(result["links"]["mask"]).status_code == 404
        assert c.get("/api/health").json()["store"]["items"] == 0


# -------------------------------------------------------------------------------------------- bad uploads


def _truncated_png() -> bytes:
    data = png_bytes(synthetic_slice(128))
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    data = bytearray(png_bytes(synthetic_slice(128)))
    data[60:400] = b"\x00" * 340  # header intact, compressed pixel data destroyed
    return bytes(data)


def _rgba_transparent() -> bytes:
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    return png_bytes(rgba)


BAD_UPLOADS = {
    "empty": (b"", 400, "empty"),
    "text": (b"just some text, not an image", 415, "not an image"),
    # The fix for an upload, not read_image's for a folder ("remove it from the folder (and its mask...").
    "truncated": (
        _truncated_png(),
        422,
        "image file is truncated; the file is corrupt or not an image: re-save it and upload it again",
    ),
    "corrupt": (_corrupt_png(), 422, "corrupt"),
    "two_channels_for_gray_model": (two_channel_tiff(), 422, "2 channels but the model expects 1"),
    "transparent": (_rgba_transparent(), 422, "transparent"),
    "too_many_pixels": (png_bytes(np.zeros((700, 700), dtype=np.uint8)), 413, "--max-pixels"),
    "too_many_bytes": (
        png_bytes(np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)),  # > 1 MB + slack
        413,
        # Refused from the Content-Length before the body is read; the message names the size and the limit.
        "request of 1.0 MiB is larger than the upload limit of 977 KiB (server option --max-upload-mb)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_get_a_4xx_with_one_line_and_the_server_keeps_serving(
    client: TestClient, case: str
) -> None:
    data, status, words = BAD_UPLOADS[case]
    response = post(client, data, name=f"{case}.png")
    assert response.status_code == status, response.text
    detail = one_line(response)
    assert words in detail, detail
    assert "/tmp" not in detail  # server paths stay private
    assert post(client, png_bytes(synthetic_slice(64))).status_code == 200
    assert client.get("/api/health").json()["status"] == "ok"


def test_streamed_body_over_the_limit_is_cut_off(trained_model_dir: Path) -> None:
    app = create_app(trained_model_dir, limits=ServeLimits(max_upload_bytes=10_000))
    boundary = "unetkitboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    sent = []

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while streaming
        yield head + b"\x89PNG\r\n\x1a\n"
        for _ in range(400):
            sent.append(4096)
            yield b"\x00" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        # httpx's ASGI transport streams the body to the app chunk by chunk (TestClient reads it all first).
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            refused = await ac.post("/api/predict", content=body(), headers=headers)
            files = {"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")}
            return refused, await ac.post("/api/predict", files=files)

    refused, after = asyncio.run(scenario())
    app.state.pool.close()
    app.state.store.close()
    assert refused.status_code == 413
    expected = (
        "request is larger than the upload limit of 9.8 KiB (server option --max-upload-mb); larger files go "
        "through unetkit predict RUN IMAGE --out DIR (tiled, no size or pixel limit)"
    )
    assert one_line(refused) == expected
    # Refused while streaming: reading stopped soon after the limit (+ multipart slack), not after 1.6 MB.
    assert sum(sent) < 10_000 + 64 * 1024 + 8 * 4096
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("options", "words"),
    [({"tta": "sideways"}, "tta"), ({"tile_size": 8}, "tile_size"), ({"alpha": 1.5}, "alpha"),
     ({"instances": "blobs"}, "instances"), ({"instances": "boundary"}, "instances"),
     ({"instances": "maskrcnn"}, "instances"), ({"min_size": -1}, "min_size")],
)  # fmt: skip
def test_invalid_options_get_a_422_naming_the_option(
    client: TestClient, options: dict[str, Any], words: str
) -> None:
    response = post(client, png_bytes(synthetic_slice(64)), **options)
    assert response.status_code == 422
    assert one_line(response).startswith(words)


UPLOAD_FIX = (
    "send the image as multipart form field file, e.g. curl -F file=@x.png http://testserver/api/predict"
)


# What a client sent instead of an image in the field `file` -> what the answer says it got.
SENT_OTHERWISE: dict[str, tuple[dict[str, Any], str]] = {
    "form_without_file": (
        {"data": {"tta": "none"}},
        "application/x-www-form-urlencoded body, as curl --data sends",
    ),
    # curl -F image=@x.png
    "other_field_name": (
        {"files": {"image": ("x.png", b"\x89PNG")}, "data": {"tta": "none"}},
        "fields image, tta)",
    ),
    "raw_body": (
        {"content": b"\x89PNG", "headers": {"content-type": "image/png"}},
        "a body of type image/png",
    ),
    "json": ({"json": {"file": "x.png"}}, "a body of type application/json"),
    "no_body": ({}, "got no body"),
    # curl -F file=x.png (no @): the name as text
    "name_not_file": ({"files": {"file": (None, "x.png")}}, "got the text 'x.png', not a file"),
}


@pytest.mark.parametrize("case", list(SENT_OTHERWISE))
def test_an_image_sent_otherwise_is_told_the_field_and_the_curl_line(client: TestClient, case: str) -> None:
    request_kwargs, got = SENT_OTHERWISE[case]
    response = client.post("/api/predict", **request_kwargs)
    assert response.status_code == 422
    detail = one_line(response)
    assert detail.startswith("file: ") and got in detail and detail.endswith(UPLOAD_FIX), detail


def test_the_curl_line_has_the_token_header_when_the_server_has_a_token(trained_model_dir: Path) -> None:
    with serving(trained_model_dir, token="s3cret") as c:
        response = c.post("/api/predict", data={"tta": "none"}, headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 422
    assert 'curl -H "Authorization: Bearer $TOKEN" -F file=@x.png' in one_line(response)
    assert "s3cret" not in response.text


def test_a_wrong_option_says_what_it_got_and_what_the_values_mean(client: TestClient) -> None:
    response = post(client, png_bytes(synthetic_slice(64)), tta=True, tile_size=8)
    assert response.status_code == 422
    assert one_line(response) == (
        "tta: got 'true'; use model (what the run scored the model with, as unetkit predict uses; the "
        "default), none, flips (4 flips) or d4 (8 flips/rotations); "
        "tile_size: Input should be greater than or equal to 32 (got '8')"
    )


# ------------------------------------------------------------------------------------------ overload, timeout


@contextlib.contextmanager
def blocked_jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Jobs wait for the returned event before running (thread pool), so requests pile up on purpose."""
    release = threading.Event()
    real = pool_module.run_job

    def slow(cache: Any, job: Any, cancelled: Any = None) -> dict[str, Any]:
        release.wait(30)
        return real(cache, job, cancelled)

    monkeypatch.setattr(pool_module, "run_job", slow)
    try:
        yield release
    finally:
        release.set()


def test_full_queue_answers_503_with_retry_after(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(trained_model_dir, workers=1, limits=ServeLimits(queue_size=1))
    data = png_bytes(synthetic_slice(64))

    async def scenario(release: threading.Event) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            files = {"file": ("a.png", data, "image/png")}
            admitted = [asyncio.create_task(ac.post("/api/predict", files=files)) for _ in range(2)]
            await asyncio.sleep(0.3)  # both admitted: one running (blocked), one waiting
            refused = await ac.post("/api/predict", files=files)
            health = (await ac.get("/api/health")).json()  # the event loop still answers
            assert health["pool"]["running"] == 1 and health["pool"]["waiting"] == 1
            release.set()
            done = await asyncio.gather(*admitted)
            after = await ac.post("/api/predict", files=files)
            return [refused, *done, after]

    with blocked_jobs(monkeypatch) as release:
        refused, first, second, after = asyncio.run(scenario(release))
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "queue" in one_line(refused) and "retry" in one_line(refused)
    assert [first.status_code, second.status_code, after.status_code] == [200, 200, 200]
    app.state.pool.close()
    app.state.store.close()


def test_timeout_answers_504_and_drops_the_late_result(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        blocked_jobs(monkeypatch) as release,
        serving(trained_model_dir, limits=ServeLimits(timeout_s=0.3)) as c,
    ):
        response = post(c, png_bytes(synthetic_slice(64)))
        assert response.status_code == 504 and "--timeout" in one_line(response)
        root = c.app.state.store.root  # type: ignore[attr-defined]
        release.set()
        for _ in range(400):  # the job finishes in the background; its folder must then disappear
            if c.get("/api/health").json()["pool"]["running"] == 0:
                break
            time.sleep(0.05)
        assert [p for p in root.iterdir() if not p.name.startswith(".")] == []
        assert post(c, png_bytes(synthetic_slice(64))).status_code == 200


def test_a_failing_prediction_gets_a_json_500_and_the_traceback_goes_to_the_log(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As an exported model failed on images of 8 px or less (reflect padding): an error no check foresaw.
    from unetkit.inference.predictor import Predictor

    real = Predictor._predict_batch

    def fragile(self: Any, batch: np.ndarray) -> np.ndarray:
        if min(batch.shape[2:]) <= 8:
            raise RuntimeError(
                "Pad reflect: post-pad (9) exceeds maximum allowed (6) for axis 2\nsecond line"
            )
        return real(self, batch)

    monkeypatch.setattr(Predictor, "_predict_batch", fragile)
    with serving(trained_model_dir, limits=ServeLimits()) as c, caplog.at_level("ERROR"):
        failed = post(c, png_bytes(synthetic_slice(96)[:7, :5]), name="tiny_5x7.png", tta="none")
        after = post(c, png_bytes(synthetic_slice(64)), tta="none")
        health = c.get("/api/health").json()["pool"]
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/json"
    assert one_line(failed) == (
        "prediction of tiny_5x7.png failed (RuntimeError: Pad reflect: post-pad (9) exceeds maximum allowed "
        "(6) for axis 2); the server log has the details"
    )
    (record,) = [r for r in caplog.records if r.name == "unetkit.serve.app"]
    assert record.exc_info is not None and "tiny_5x7.png" in record.getMessage()
    assert after.status_code == 200 and health["running"] == 0  # the server keeps serving


# ------------------------------------------------------------------------------------------ token, page, docs


def test_token_protects_every_api_route(trained_model_dir: Path) -> None:
    with serving(trained_model_dir, token="s3cret") as c:
        api_routes = [
            (route.path, method)  # type: ignore[attr-defined]
            for route in c.app.routes  # type: ignore[attr-defined]
            if getattr(route, "path", "").startswith("/api")
            for method in route.methods  # type: ignore[attr-defined]
        ]
        assert len(api_routes) >= 6
        rid = "0" * 32
        for path, method in api_routes:
            url = path.replace("{result_id}", rid).replace("{file_name}", "mask.png")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
                response = c.request(method, url, headers=headers)
                assert response.status_code == 401, (method, url, headers)
                assert "token" in one_line(response)
        good = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/health", headers=good).status_code == 200
        response = c.post(
            "/api/predict",
            headers=good,
            files={"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")},
        )
        assert response.status_code == 200
        assert c.get(response.json()["links"]["mask"], headers=good).status_code == 200
        assert c.get("/").status_code == 200 and c.get("/docs").status_code == 200


def test_page_and_docs_need_no_other_host(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text, asset
    docs = client.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "cdn." not in docs
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/api/predict"]["post"]
    assert {"413", "415", "422", "503", "504"} <= set(predict["responses"])
    assert "/api/results/{result_id}/{file_name}" in schema["paths"]


# -------------------------------------------------------------------------------------------- process pool


def test_process_pool_gives_the_same_result(trained_model_dir: Path, client: TestClient) -> None:
    data = png_bytes(synthetic_slice(96, seed=3))
    expected = post(client, data).json()["classes"]
    with serving(trained_model_dir, pool="process", workers=1, threads_per_worker=1) as c:
        assert c.get("/api/model").json()["pool"] == "process"
        assert post(c, data).json()["classes"] == expected
        assert post(c, b"not an image").status_code == 415
        assert post(c, two_channel_tiff(), "pair.tif").status_code == 422


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_killed_worker_process_fails_one_request_and_is_replaced(trained_model_dir: Path) -> None:
    import multiprocessing
    import os
    import signal

    data = png_bytes(synthetic_slice(64))
    with serving(trained_model_dir, pool="process", workers=1, threads_per_worker=1) as c:
        assert post(c, data).status_code == 200
        workers = multiprocessing.active_children()
        assert workers
        for proc in workers:  # e.g. the kernel's out-of-memory killer
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
        response = post(c, data)
        assert response.status_code == 500 and "restarted" in one_line(response)
        assert post(c, data).status_code == 200
        assert c.get("/api/health").json()["status"] == "ok"


def test_onnxruntime_backend_serves_without_torch(tmp_path: Path) -> None:
    """``unetkit serve --backend onnxruntime`` needs no torch: the app runs with torch imports blocked."""
    pytest.importorskip("onnxruntime")
    import textwrap

    import torch

    from unetkit.export import export_onnx
    from unetkit.model_files.model_config import ModelConfig
    from unetkit.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    model = create_model("unet", **kwargs).eval()
    config = ModelConfig("unet", kwargs, ["membrane", "cell"], mean=[0.5], std=[0.25])
    folder = tmp_path / "onnx_model"
    export_onnx(model, config, folder, exporter="legacy")
    image = synthetic_slice(64)
    Image.fromarray(image).save(tmp_path / "a.png")
    expected, _ = load_predictor(folder, backend="onnxruntime").predict(image[..., None])
    script = textwrap.dedent(
        f"""
        import sys, warnings
        sys.modules["torch"] = None  # any import of torch now fails
        warnings.simplefilter("ignore", UserWarning)
        from fastapi.testclient import TestClient
        from unetkit.serve.app import create_app
        with TestClient(create_app({str(folder)!r}, backend="onnxruntime")) as c:
            data = open({str(tmp_path / "a.png")!r}, "rb").read()
            r = c.post("/api/predict", files={{"file": ("a.png", data, "image/png")}})
            assert r.status_code == 200, r.text
            print(r.json()["classes"][1]["pixels"])
            open({str(tmp_path / "mask.png")!r}, "wb").write(c.get(r.json()["links"]["mask"]).content)
        loaded = [m for m, v in sys.modules.items() if v is not None]
        assert not any(m == "torch" or m.startswith("torch.") for m in loaded)
        """
    )
    result = run_fresh_python(script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) == int((expected == 1).sum())
    np.testing.assert_array_equal(decode_png((tmp_path / "mask.png").read_bytes()), expected)


def test_a_16bit_upload_is_read_through_the_models_intensity_window(tmp_path: Path) -> None:
    from serve_helpers import save_tiny_model

    from unetkit.model_files.model_config import ModelConfig

    model = save_tiny_model(tmp_path / "model")
    config = ModelConfig.load(model)
    config.intensity_window = [[1000.0, 2000.0]]
    config.save(model)
    deep = np.linspace(1000, 2000, 64 * 64).reshape(64, 64).astype(np.uint16)
    with serving(model) as c:
        response = post(c, png_bytes(deep), "deep.png")
        assert response.status_code == 200, response.text
        assert c.get("/api/model").json()["intensity_window"] == [[1000.0, 2000.0]]
        shown = decode_png(c.get(response.json()["links"]["input"]).content)
    assert shown.min() == 0 and shown.max() == 255  # >> 8 would give 3..7


def test_an_upload_far_outside_the_models_intensity_window_gets_a_warning(tmp_path: Path) -> None:
    from serve_helpers import save_tiny_model

    from unetkit.model_files.model_config import ModelConfig

    model = save_tiny_model(tmp_path / "model")
    config = ModelConfig.load(model)
    config.intensity_window = [[0.0, 63182.0]]  # trained on 16-bit images
    config.save(model)
    eight = np.tile(np.arange(256, dtype=np.uint8), (32, 1))
    deep = np.linspace(0, 63182, 64 * 64).reshape(64, 64).astype(np.uint16)
    with serving(model) as c:
        response = post(c, png_bytes(eight), "eight.png")
        assert response.status_code == 200, response.text
        (warning,) = response.json()["warnings"]
        fits = post(c, png_bytes(deep), "deep.png").json()
    # Named by the client's own file name (not the server's temp path), in one line, with the fix.
    assert warning.startswith("eight.png: 8-bit values 0..255 (uint8) against the model's intensity window")
    assert "[0, 63182]" in warning and "save the image at the bit depth" in warning and "\n" not in warning
    assert "warnings" not in fits


def test_a_gray_upload_to_a_colour_model_is_converted(tmp_path: Path) -> None:
    from serve_helpers import save_tiny_model

    from unetkit.model_files.model_config import ModelConfig

    model = save_tiny_model(tmp_path / "model", in_channels=3)
    gray = png_bytes(np.full((32, 32), 90, np.uint8))
    rgb = png_bytes(np.full((32, 32, 3), 90, np.uint8))
    with serving(model) as c:
        # As `unetkit predict` reads it: gray replicated to RGB, said in the result; the same mask as RGB.
        response = post(c, gray, "gray.png")
        assert response.status_code == 200, response.text
        assert response.json()["converted_from_channels"] == 1 and response.json()["channels"] == 3
        as_rgb = post(c, rgb, "rgb.png").json()
        assert "converted_from_channels" not in as_rgb and as_rgb["classes"] == response.json()["classes"]
    config = ModelConfig.load(model)
    config.convert_channels = True  # trained reading gray images as RGB: the same
    config.save(model)
    with serving(model) as c:
        response = post(c, gray, "gray.png")
    assert response.status_code == 200, response.text


def test_a_two_channel_tiff_is_served_and_shown_as_a_composite(tmp_path: Path) -> None:
    """Two microscope channels: segmented by a 2-channel model, the input shown green/magenta."""
    import tifffile

    model = save_tiny_model(tmp_path / "model", in_channels=2)
    pair = np.zeros((32, 32, 2), np.uint8)
    pair[..., 0], pair[..., 1] = 200, 50
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pair, photometric="minisblack", planarconfig="contig")
    with serving(model) as c:
        response = post(c, buffer.getvalue(), "pair.tif")
        assert response.status_code == 200, response.text
        assert response.json()["channels"] == 2
        shown = decode_png(c.get(response.json()["links"]["input"]).content)
    assert shown.shape == (32, 32, 3) and tuple(shown[0, 0]) == (50, 200, 50)
