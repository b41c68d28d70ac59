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

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the 'test' extra)"
)

from PIL import Image  # noqa: E402
from serve_helpers import live_server, predict_cli, synthetic_slice, with_instance_record  # noqa: E402

from unetkit.cli.main import main as cli_main  # noqa: E402
from unetkit.devices import resolve_device  # noqa: E402

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
        assert page.locator("#instances").input_value() == "components"
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
    assert card.locator(".downloads a").count() == 3  # mask, overlay, instances
    with page.expect_download() as download_info:
        card.locator("a.download-mask").click()
    assert download_info.value.suggested_filename == f"{slice_path.stem}_mask.png"

    assert all(url.startswith(server_url) or url.startswith("blob:") for url in requests), requests
    assert errors == []
    shot = tmp_path / "serve.png"
    page.fill("#opacity", "50")
    page.locator("#opacity").dispatch_event("input")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    keep_screenshot(shot)
    page.close()


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
        assert errors == []
        page.close()


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
        assert card.locator(".downloads a").count() == 3  # mask, overlay, instances
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
    card = upload_and_wait(page, slice_path)
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
