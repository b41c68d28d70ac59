"""``unetkit serve`` in a real browser: headless Chromium (Debian's package) driven by Playwright.

Starts the server on a free loopback port, uploads an ISBI slice on the page, waits for the overlay, and
checks the class areas the page shows against ``unetkit predict`` on the same file with the same model; then
a phone-sized viewport and a bad upload. Screenshots go to tmp_path, and also to
``$UNETKIT_SERVE_SCREENSHOTS`` when set; ``$UNETKIT_SERVE_MODEL`` replaces the tiny test model (how
``docs/figures/serve*.png`` are made, with an ISBI model: ``UNETKIT_SERVE_SCREENSHOTS=docs/figures
UNETKIT_SERVE_MODEL=runs/isbi2012 .venv/bin/python -m pytest tests/serve/test_serve_browser.py``).

Skips, with the reason, only where Playwright or Chromium is missing or cannot start.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the 'test' extra)"
)

from PIL import Image  # noqa: E402
from serve_helpers import live_server, predict_cli, synthetic_slice, wait_until, with_instance_record  # noqa: E402

from unetkit.cli.main import main as cli_main  # noqa: E402
from unetkit.devices import resolve_device  # noqa: E402
from unetkit.serve.limits import PREDICT_INSTEAD, ServeLimits  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 90_000  # a busy 2-core machine: prediction + page work may take a while


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium; .ci/run does it)")
    with playwright_api.sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:  # Playwright raises its own error types for a browser that will not start
            pytest.skip(f"Chromium at {CHROMIUM} cannot be launched: {str(exc).splitlines()[0]}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def model(request: pytest.FixtureRequest) -> Path:
    """The served model: ``$UNETKIT_SERVE_MODEL`` (e.g. an ISBI run, for the docs) or the tiny test model."""
    chosen = os.environ.get("UNETKIT_SERVE_MODEL")
    return Path(chosen) if chosen else request.getfixturevalue("trained_model_dir")


@pytest.fixture(scope="module")
def server_url(model: Path) -> Iterator[str]:
    with live_server(model) as url:
        yield url


def cli_fractions(model: Path, image: Path, out: Path, instances: str = "components") -> dict[str, Any]:
    """Class fractions and instance count that ``unetkit predict`` writes to summary.csv for ``image``."""
    code = cli_main(["predict", str(model), str(image), "--out", str(out), "--instances", instances, "-q"])
    assert code == 0
    with open(out / "summary.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    return {
        "fractions": {k[len("frac_") :]: float(v) for k, v in row.items() if k.startswith("frac_")},
        "instances": int(row["instances"]),
    }


def keep_screenshot(path: Path) -> None:
    target = os.environ.get("UNETKIT_SERVE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(target) / path.name)


def upload_and_wait(page: Any, image: Path) -> Any:
    page.set_input_files("#files", str(image))
    card = page.locator("article.result").first
    page.wait_for_selector(
        "article.result[data-state='done'] canvas.tint[data-ready='true']", timeout=TIMEOUT_MS
    )
    return card


def test_page_segments_an_uploaded_slice_like_the_cli(
    browser: Any, server_url: str, model: Path, slice_path: Path, tmp_path: Path
) -> None:
    expected = cli_fractions(model, slice_path, tmp_path / "cli")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(server_url + "/")
    # A locator wait, not wait_for_function("..."): string predicates are eval'd in the page, which the
    # page's Content-Security-Policy (script-src 'self') forbids once Playwright has to poll.
    playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
    assert page.locator("#token-form").is_hidden()  # no token on this server
    # --device auto (the default) resolved in the server, which says where it runs.
    assert f" on {resolve_device('auto')}" in page.locator("#model-info").inner_text()
    if not os.environ.get("UNETKIT_SERVE_MODEL"):  # no export beside the test model: auto runs torch
        assert "backend torch fp32 (chosen by auto) on" in page.locator("#model-info").inner_text()
    if not os.environ.get("UNETKIT_SERVE_MODEL"):  # the test model records no instance method of its own
        # The API's default (GET /api/model: instances.default): no instance count for a semantic model.
        assert page.locator("#instances").input_value() == "none"
    # Keyboard and screen reader: the hidden file input is no tab stop, the slider has a name.
    assert page.locator("#files").get_attribute("tabindex") == "-1"
    assert page.get_by_role("slider", name="Overlay opacity").count() == 1
    page.select_option("#instances", "components")
    card = upload_and_wait(page, slice_path)

    # The shown class areas are the CLI's (summary.csv keeps 6 decimals).
    rows = card.locator("tr.class-row")
    assert rows.count() == len(expected["fractions"])
    for i, (name, fraction) in enumerate(expected["fractions"].items()):
        row = rows.nth(i)
        assert name in row.inner_text()
        shown = float(row.get_attribute("data-fraction"))
        assert shown == pytest.approx(fraction, abs=1e-6)
        assert row.locator("td.area").inner_text() == f"{100 * shown:.2f} %"
    assert 0.05 < expected["fractions"]["cell"] < 0.95  # a real mask, not one class everywhere
    assert int(card.locator(".instance-count").inner_text()) == expected["instances"]

    # Input, overlay and mask are drawn at the image's size; the overlay follows the opacity slider.
    size = page.evaluate(
        "(() => { const i = document.querySelector('img.mask'); return [i.naturalWidth, i.naturalHeight] })()"
    )
    canvas = page.evaluate(
        "(() => { const c = document.querySelector('canvas.tint'); return [c.width, c.height]; })()"
    )
    assert size == canvas and size[0] > 0
    assert card.locator("canvas.tint").evaluate("c => c.style.opacity") == "0.5"
    page.fill("#opacity", "80")
    page.locator("#opacity").dispatch_event("input")
    assert card.locator("canvas.tint").evaluate("c => c.style.opacity") == "0.8"
    assert card.locator(".downloads a").count() == 4  # mask, overlay, instances in colour, instance ids
    with page.expect_download() as download_info:
        card.locator("a.download-mask").click()
    assert download_info.value.suggested_filename == f"{slice_path.stem}_mask.png"
    # Alt texts and download names say which file they belong to.
    assert card.locator("img.mask").get_attribute("alt") == f"class mask of {slice_path.name}"
    label = card.locator("a.download-instances_color").get_attribute("aria-label")
    assert label == f"Instances PNG of {slice_path.name} ({slice_path.stem}_instances_color.png)"

    assert all(url.startswith(server_url) or url.startswith("blob:") for url in requests), requests
    assert errors == []
    shot = tmp_path / "serve.png"
    page.fill("#opacity", "50")
    page.locator("#opacity").dispatch_event("input")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep_screenshot(shot)
    page.close()


@pytest.mark.slow  # 7 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_page_defaults_to_the_models_own_instance_method(
    browser: Any, trained_model_dir: Path, slice_path: Path, tmp_path: Path
) -> None:
    # Recorded as `unetkit fit DIR --target ...` records its method; watershed differs from the default.
    model = with_instance_record(trained_model_dir, tmp_path / "model", instance_method="watershed")
    expected = cli_fractions(model, slice_path, tmp_path / "cli", instances="auto")
    with live_server(model) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        select = page.locator("#instances")
        assert select.input_value() == "auto"
        options = select.locator("option")
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        assert values == ["auto", "components", "watershed", "none"]
        assert select.locator("option[value='auto']").inner_text() == "the model's own (watershed)"
        card = upload_and_wait(page, slice_path)
        assert int(card.locator(".instance-count").inner_text()) == expected["instances"]
        assert "(auto: watershed)" in card.locator(".summary").inner_text()
        # The overlay on the page outlines every instance (as the overlay download does), at the image's size.
        outlines = card.locator("img.outlines")
        assert outlines.is_visible()
        shown = outlines.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert shown == card.locator("canvas.tint").evaluate("c => [c.width, c.height]")
        # The instances download is viewable (colour), the 16-bit ids are offered beside it.
        with page.expect_download() as download_info:
            card.locator("a.download-instances_color").click()
        saved = tmp_path / download_info.value.suggested_filename
        download_info.value.save_as(saved)
        assert saved.name == f"{slice_path.stem}_instances_color.png"
        with Image.open(saved) as img:
            assert img.mode == "RGB" and len(set(img.getdata())) > 2  # black + more than one colour
        assert card.locator("a.download-instances").inner_text() == "Instance ids (16-bit PNG)"
        assert errors == []
        page.close()


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_page_serves_a_maskrcnn_model_with_its_score_threshold(
    browser: Any, maskrcnn_dir: Path, tmp_path: Path
) -> None:
    image = tmp_path / "nuclei.png"
    Image.fromarray(synthetic_slice(96)).save(image)
    expected = predict_cli(maskrcnn_dir, image, tmp_path / "cli", "--score-threshold", "0.4")
    with live_server(maskrcnn_dir) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("maskrcnn", timeout=TIMEOUT_MS)
        assert f"on {resolve_device('auto')}" in page.locator("#model-info").inner_text()
        # Its instances are its prediction: no "none", no TTA; a score threshold instead (0.5 as predict).
        options = page.locator("#instances option")
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == ["auto", "maskrcnn"]
        assert page.locator("#tta").is_hidden() and page.locator("#score-threshold").is_visible()
        assert page.locator("#score-threshold").input_value() == "0.5"
        page.fill("#score-threshold", "0.4")
        card = upload_and_wait(page, image)
        assert int(card.locator(".instance-count").inner_text()) == expected["count"]
        assert "(auto: maskrcnn)" in card.locator(".summary").inner_text()
        assert card.locator(".downloads a").count() == 4  # mask, overlay, instances in colour, instance ids
        assert errors == []
        page.close()


def test_phone_viewport_stacks_the_panels(
    browser: Any, server_url: str, slice_path: Path, tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(server_url + "/")
    # A locator wait, not wait_for_function("..."): string predicates are eval'd in the page, which the
    # page's Content-Security-Policy (script-src 'self') forbids once Playwright has to poll.
    playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
    # d4: the summary names 8 views (identity,rot90,...,antitranspose), wider than the screen unbroken.
    page.select_option("#tta", "d4")
    card = upload_and_wait(page, slice_path)
    assert "antitranspose" in card.locator(".summary").inner_text()
    # Nothing wider than the screen, and input / overlay / mask one below the other.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = [card.locator("figure").nth(i).bounding_box() for i in range(3)]
    assert all(b is not None and b["width"] <= 390 for b in boxes)
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]  # type: ignore[index]
    shot = tmp_path / "serve_phone.png"
    page.screenshot(path=str(shot), full_page=True, scale="css")  # CSS pixels: a 4x smaller file
    keep_screenshot(shot)
    context.close()


def test_page_shows_a_clear_error_for_a_bad_file(browser: Any, server_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not pixels")
    page = browser.new_page()
    page.goto(server_url + "/")
    page.set_input_files("#files", str(bad))
    page.wait_for_selector("article.result[data-state='error']", timeout=TIMEOUT_MS)
    message = page.locator("article.result .error").inner_text()
    assert message.startswith("415:") and "notes.png: not an image" in message
    page.close()


def test_docs_try_it_out_runs_with_the_prefilled_values(
    browser: Any, server_url: str, tmp_path: Path
) -> None:
    # /docs' "Try it out" pre-fills every form field (an option's example, else a made-up 32, "string", 1):
    # each option left empty by default has the example "" (empty = absent), so Execute runs as it is.
    image = tmp_path / "cells.png"
    Image.fromarray(synthetic_slice(64)).save(image)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server_url + "/docs")
    operation = page.locator("#operations-predict-predict_api_predict_post")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("input[type=file]").set_input_files(str(image))
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response td.response-col_status")
    playwright_api.expect(status).to_have_text("200", timeout=TIMEOUT_MS)
    # ... with the server's defaults, not made-up values (32 px tiles would run, slowly, and answer 200).
    body = operation.locator(".live-responses-table tr.response .response-col_description pre").first
    options = json.loads(body.inner_text())["options"]
    assert options["tile_size"] is None and options["min_size"] is None, options
    assert options["instances"] == "none" and options["score_threshold"] is None, options
    page.close()


# ------------------------------------------------------------------- a slow job, served in this process


@dataclass
class SlowBatches:
    """Every forward pass of a torch predictor takes ``delay`` s more (0 = full speed)."""

    delay: float = 0.5
    calls: int = 0


@pytest.fixture
def slow_batches(monkeypatch: pytest.MonkeyPatch) -> SlowBatches:
    from unetkit.inference.predictor import Predictor

    state = SlowBatches()
    real = Predictor._predict_batch

    def slow(self: Any, batch: Any) -> Any:
        state.calls += 1
        time.sleep(state.delay)
        return real(self, batch)

    monkeypatch.setattr(Predictor, "_predict_batch", slow)
    return state


@contextlib.contextmanager
def serve_in_process(app: Any) -> Iterator[str]:
    """``app`` on a free loopback port by uvicorn in a thread (so that this process's patches reach the
    jobs); yields its URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def big_image(tmp_path: Path) -> Path:
    """2000 x 2000: tiled in 512 px tiles, several batches, each slowed by ``slow_batches``."""
    path = tmp_path / "big.png"
    Image.fromarray(synthetic_slice(2000)).save(path)
    return path


def test_cancel_and_reload_stop_the_running_job(
    browser: Any, trained_model_dir: Path, slow_batches: SlowBatches, big_image: Path
) -> None:
    from unetkit.serve.app import create_app

    app = create_app(trained_model_dir, workers=1, limits=ServeLimits(queue_size=0))
    pool = app.state.pool
    with serve_in_process(app) as url:
        page = browser.new_page()
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        # The Cancel button stops the request, and the server its job (after its current batch of tiles).
        page.set_input_files("#files", str(big_image))
        card = page.locator("article.result").first
        assert wait_until(lambda: slow_batches.calls > 0, 30)
        card.locator("button.cancel").click()
        playwright_api.expect(card).to_have_attribute("data-state", "cancelled")
        assert card.locator("button.retry").is_visible() and card.locator("button.cancel").is_hidden()
        assert card.locator(".progress").is_hidden()  # a cancelled card shows no work going on
        assert wait_until(lambda: pool.stats()["running"] == 0, 5), pool.stats()
        calls = slow_batches.calls
        time.sleep(0.6)
        assert slow_batches.calls == calls  # nothing runs on for nobody
        # Leaving the page (a reload; closing the tab is the same) cancels the job as well.
        card.locator("button.retry").click()
        assert wait_until(lambda: slow_batches.calls > calls, 30)
        page.reload()
        assert wait_until(lambda: pool.stats()["running"] == 0, 5), pool.stats()
        assert pool.stats()["served"] == 0
        page.close()


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_busy_server_retries_then_offers_a_retry_button(
    browser: Any, trained_model_dir: Path, slow_batches: SlowBatches, big_image: Path, tmp_path: Path
) -> None:
    from unetkit.serve.app import create_app

    small = tmp_path / "small.png"
    Image.fromarray(synthetic_slice(64)).save(small)
    app = create_app(trained_model_dir, workers=1, limits=ServeLimits(queue_size=0))
    with serve_in_process(app) as url:
        page = browser.new_page()
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        page.set_input_files("#files", str(big_image))  # holds the only worker
        assert wait_until(lambda: slow_batches.calls > 0, 30)
        page.set_input_files("#files", str(small))
        busy, big = page.locator("article.result").nth(0), page.locator("article.result").nth(1)
        playwright_api.expect(busy.locator(".status")).to_contain_text("server busy: trying again in")
        playwright_api.expect(busy).to_have_attribute("data-state", "error", timeout=TIMEOUT_MS)
        # The page has given up: it says so, and how to go on, not the API's "retry in 2 s".
        message = busy.locator(".error").inner_text()
        assert message.startswith("503: the server is still busy") and "press Retry" in message, message
        big.locator("button.cancel").click()
        slow_batches.delay = 0.0
        busy.locator("button.retry").click()
        playwright_api.expect(busy).to_have_attribute("data-state", "done", timeout=TIMEOUT_MS)
        page.close()


def test_a_wrong_token_is_said_so(browser: Any, trained_model_dir: Path, tmp_path: Path) -> None:
    from unetkit.serve.app import create_app

    image = tmp_path / "cells.png"
    Image.fromarray(synthetic_slice(64)).save(image)
    with serve_in_process(create_app(trained_model_dir, token="s3cret")) as url:
        page = browser.new_page()
        page.goto(url + "/")
        playwright_api.expect(page.locator("#token-form")).to_be_visible(timeout=TIMEOUT_MS)
        assert page.locator("#token-error").is_hidden()  # nothing entered yet: nothing wrong yet
        page.fill("#token", "wrong")
        page.press("#token", "Enter")
        playwright_api.expect(page.locator("#token-error")).to_have_text(
            "wrong token: check it and try again"
        )
        playwright_api.expect(page.locator("#token-error")).to_be_visible()
        page.set_input_files("#files", str(image))
        card = page.locator("article.result").first
        playwright_api.expect(card).to_have_attribute("data-state", "error", timeout=TIMEOUT_MS)
        assert (
            card.locator(".error")
            .inner_text()
            .startswith("401: the token is missing or wrong: enter it above")
        )
        page.fill("#token", "s3cret")
        page.press("#token", "Enter")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        assert page.locator("#token-form").is_hidden()
        card.locator("button.retry").click()
        playwright_api.expect(card).to_have_attribute("data-state", "done", timeout=TIMEOUT_MS)
        page.close()


def test_an_expired_result_says_so_in_its_card(browser: Any, trained_model_dir: Path, tmp_path: Path) -> None:
    from unetkit.serve.app import create_app

    image = tmp_path / "cells.png"
    Image.fromarray(synthetic_slice(64)).save(image)
    with serve_in_process(create_app(trained_model_dir, limits=ServeLimits(store_ttl_s=1.0))) as url:
        page = browser.new_page()
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        card = upload_and_wait(page, image)
        time.sleep(1.5)
        card.locator("a.download-mask").click()
        error = card.locator(".error")
        playwright_api.expect(error).to_contain_text("cells.png: this result has expired")
        assert "press Retry" in error.inner_text() and card.locator("button.retry").is_visible()
        assert page.locator("#message").is_hidden()  # in the card of its file, not a banner naming an id
        page.close()


def test_a_file_above_the_upload_limit_is_refused_by_name_before_sending(
    browser: Any, trained_model_dir: Path, tmp_path: Path
) -> None:
    """The page names the file and the limit without uploading it (the server's early 413 cannot name it)."""
    from unetkit.serve.app import create_app
    from unetkit.serve.limits import format_bytes

    image = tmp_path / "big slice.png"
    Image.fromarray(synthetic_slice(64)).save(image)
    size = image.stat().st_size
    assert size > 2048
    requests: list[str] = []
    with serve_in_process(create_app(trained_model_dir, limits=ServeLimits(max_upload_bytes=2048))) as url:
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url + "/")
        playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
        page.set_input_files("#files", str(image))
        card = page.locator("article.result").first
        playwright_api.expect(card).to_have_attribute("data-state", "error", timeout=TIMEOUT_MS)
        text = card.locator(".error").inner_text()
        assert text.startswith(
            f"big slice.png: the file of {format_bytes(size)} is larger than"
        )  # as the server
        assert "upload limit of 2 KiB (server option --max-upload-mb); not sent" in text
        assert text.endswith(f"; larger files go through {PREDICT_INSTEAD}")  # the server's way around it
        assert card.locator("button.retry").is_hidden()  # the same file would be refused again
        assert not [u for u in requests if u.endswith("/api/predict")]  # nothing was sent
        page.close()
