"""The page shows how far a long prediction is: "tile N of M" and a filled progress bar (from
``GET /api/progress``), instead of an endless spinner. Headless Chromium as in ``test_serve_browser.py``;
skips where Playwright or Chromium is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the 'test' extra)"
)

from PIL import Image  # noqa: E402
from serve_helpers import HeldBatch, hold_a_batch, synthetic_slice  # noqa: E402
from test_serve_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, serve_in_process  # noqa: E402

from unetkit.inference.backends import load_predictor  # noqa: E402
from unetkit.serve.limits import ServeLimits  # noqa: E402

SIDE = 1100  # above a megapixel: tiled automatically in 512 px tiles, as the page sends no tile size


@pytest.fixture
def held_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldBatch]:
    yield from hold_a_batch(monkeypatch)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium not installed at {CHROMIUM}")
    with playwright_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:  # Playwright raises its own error types for a browser that will not start
            pytest.skip(f"Chromium at {CHROMIUM} cannot be launched: {str(exc).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.slow  # 8 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_page_shows_the_tiles_done_of_a_long_prediction(
    chromium: Any, trained_model_dir: Path, held_batch: HeldBatch, tmp_path: Path
) -> None:
    from unetkit.serve.app import create_app

    image = tmp_path / "big.png"
    Image.fromarray(synthetic_slice(SIDE)).save(image)
    total = int(load_predictor(trained_model_dir, tta="flips").tiles_per_image(SIDE, SIDE))
    app = create_app(trained_model_dir, workers=1, limits=ServeLimits(queue_size=0))
    with serve_in_process(app) as url:
        page = browser_page(chromium, url)
        page.select_option("#tta", "flips")
        page.set_input_files("#files", str(image))
        card = page.locator("article.result").first
        try:
            assert held_batch.held.wait(60), "the job did not reach its third batch"
            # Held in its third batch of 4 tiles: 8 done, of every flip's tiles together.
            status = card.locator(".status")
            playwright_api.expect(status).to_contain_text(f"tile 8 of {total}", timeout=20_000)
            bar = card.locator(".progress").evaluate("el => [el.hasAttribute('value'), el.value]")
            assert bar == [True, pytest.approx(100 * 8 / total)], bar
        finally:  # a failure must not leave the job held while the server stops
            held_batch.release.set()
        playwright_api.expect(card).to_have_attribute("data-state", "done", timeout=TIMEOUT_MS)
        page.close()


def browser_page(chromium: Any, url: str) -> Any:
    page = chromium.new_page()
    page.goto(url + "/")
    playwright_api.expect(page.locator("#model-info")).to_contain_text("unet", timeout=TIMEOUT_MS)
    return page
