"""``unetkit serve`` with a Mask R-CNN model (``unetkit fit-maskrcnn``): the instances ``unetkit predict``
gives (count, labels, mask, outlined overlay), its score threshold, options that do not fit a detector, both
worker pools, and a one-line error when torchvision is missing."""

from __future__ import annotations

import contextlib
import io
import textwrap
import warnings
from collections.abc import Iterator
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
from serve_helpers import predict_cli, run_fresh_python, synthetic_slice

from unetkit.inference.instance_predictor import pip_install
from unetkit.palette import class_palette
from unetkit.serve.app import create_app
from unetkit.viz.instances import draw_instance_outlines
from unetkit.viz.overlay import overlay


@contextlib.contextmanager
def serving(model: Path, **kwargs: Any) -> Iterator[TestClient]:
    with TestClient(create_app(model, **kwargs)) as client:
        yield client


@pytest.fixture(scope="module")
def client(maskrcnn_dir: Path) -> Iterator[TestClient]:
    with serving(maskrcnn_dir) as c:
        yield c


@pytest.fixture(scope="module")
def image_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gray slice: the detector takes RGB, so it is converted as `unetkit predict` converts it."""
    path = tmp_path_factory.mktemp("maskrcnn_image") / "nuclei.png"
    Image.fromarray(synthetic_slice(96)).save(path)
    return path


def post(client: TestClient, path: Path, **options: Any) -> httpx.Response:
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
    files = {"file": (path.name, path.read_bytes(), "image/png")}
    return client.post("/api/predict", files=files, data=form)


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img)


def files_of(client: TestClient, result: dict[str, Any]) -> dict[str, np.ndarray]:
    return {kind: decode_png(client.get(link).content) for kind, link in result["links"].items()}


def test_the_model_description_names_the_detector(client: TestClient) -> None:
    info = client.get("/api/model").json()
    assert info["architecture"] == "maskrcnn" and info["in_channels"] == 3 and info["geometry"] is None
    assert [c["name"] for c in info["classes"]] == ["background", "nucleus"]
    assert [c["color"] for c in info["classes"]] == [
        "#{:02x}{:02x}{:02x}".format(*(int(v) for v in p)) for p in class_palette(2)
    ]
    # Its instances are its prediction: "none" (the API's default) is accepted, the page offers auto.
    assert info["instances"] == {
        "choices": ["none", "auto", "maskrcnn"], "auto": "maskrcnn", "own": True, "default": "auto",
        "params": {"score_threshold": 0.5, "mask_threshold": 0.5, "min_size": 0},
    }  # fmt: skip
    assert info["device"] == "cpu" and client.get("/api/health").json()["device"] == "cpu"


def test_instances_equal_predicts_with_its_score_threshold(
    client: TestClient, maskrcnn_dir: Path, image_path: Path, tmp_path: Path
) -> None:
    default = predict_cli(maskrcnn_dir, image_path, tmp_path / "default")
    lower = predict_cli(maskrcnn_dir, image_path, tmp_path / "low", "--score-threshold", "0.4")
    assert 0 < default["count"] < lower["count"]  # the threshold shows in the count (see maskrcnn_dir)
    for options, cli in (({}, default), ({"instances": "auto"}, default), ({"score_threshold": 0.4}, lower)):
        response = post(client, image_path, **options)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["instances"] == {"method": "maskrcnn", "count": cli["count"]}, options
        assert result["converted_from_channels"] == 1 and result["channels"] == 3
        assert sorted(result["files"]) == [
            "input", "instances", "instances_color", "mask", "outlines", "overlay"
        ]  # fmt: skip
        files = files_of(client, result)
        np.testing.assert_array_equal(files["instances"], cli["labels"])
        np.testing.assert_array_equal(files["mask"], cli["mask"])  # labels > 0
        # Every instance outlined in its own colour over the class colours, as predict draws it.
        np.testing.assert_array_equal(files["overlay"], cli["overlay"])
        assert [c["pixels"] for c in result["classes"]] == np.bincount(
            cli["mask"].ravel(), minlength=2
        ).tolist()
    # The page's opacity slider re-blends the overlay: the outlines stay.
    again = decode_png(client.get(result["links"]["overlay"], params={"alpha": 0.2}).content)
    image = files["input"]
    expected = draw_instance_outlines(
        overlay(image, files["mask"], class_palette(2), 0.2), files["instances"]
    )
    np.testing.assert_array_equal(again, expected)


def test_a_recorded_score_threshold_is_the_default(
    maskrcnn_dir: Path, image_path: Path, tmp_path: Path
) -> None:
    """A model whose fit-maskrcnn chose 0.4 on validation images: requests without a threshold (and the
    page, which starts from /api/model's params) get 0.4, as `unetkit predict` does."""
    import json
    import shutil

    run = shutil.copytree(maskrcnn_dir, tmp_path / "run")
    config = json.loads((run / "model" / "config.json").read_text())
    values = {"score_threshold": 0.4, "min_size": 0}
    config["extra"] = {
        **config.get("extra", {}),
        "instance_postprocess": {"method": "maskrcnn", "values": values},
    }
    (run / "model" / "config.json").write_text(json.dumps(config))
    lower = predict_cli(maskrcnn_dir, image_path, tmp_path / "low", "--score-threshold", "0.4")
    assert predict_cli(run, image_path, tmp_path / "recorded")["count"] == lower["count"]
    with serving(run) as recorded:
        assert recorded.get("/api/model").json()["instances"]["params"]["score_threshold"] == 0.4
        response = post(recorded, image_path)
        assert response.status_code == 200 and response.json()["instances"]["count"] == lower["count"]
        assert post(recorded, image_path, score_threshold=0.5).json()["instances"]["count"] < lower["count"]


@pytest.mark.parametrize(
    ("options", "status", "words"),
    [
        ({"tta": "flips"}, 422, "test-time augmentation is not available for a Mask R-CNN model; drop tta"),
        ({"probs": True}, 422, "a maskrcnn model gives no class probabilities; drop probs=true"),
        ({"instances": "components"}, 422, "instances must be one of none, auto, maskrcnn; got 'components'"),
        ({"score_threshold": 1.5}, 422, "score_threshold"),
    ],
)
def test_options_a_detector_cannot_use_get_a_422_with_one_line(
    client: TestClient, image_path: Path, options: dict[str, Any], status: int, words: str
) -> None:
    response = post(client, image_path, **options)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert "\n" not in detail and words in detail, detail
    assert post(client, image_path).status_code == 200  # the server keeps serving


def test_a_score_threshold_for_a_semantic_model_is_refused(model_dir: Path, image_path: Path) -> None:
    with serving(model_dir) as c:
        response = post(c, image_path, score_threshold=0.4)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "score_threshold applies to Mask R-CNN models; this is a semantic model: drop it"
    )


@pytest.mark.slow  # 6 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_a_process_pool_serves_the_same_instances(
    maskrcnn_dir: Path, client: TestClient, image_path: Path
) -> None:
    expected = post(client, image_path, score_threshold=0.4).json()
    with serving(maskrcnn_dir, pool="process", workers=1, threads_per_worker=1) as c:
        assert c.get("/api/model").json()["instances"]["auto"] == "maskrcnn"
        result = post(c, image_path, score_threshold=0.4).json()
        assert result["instances"] == expected["instances"]
        np.testing.assert_array_equal(
            files_of(c, result)["instances"], files_of(client, expected)["instances"]
        )


def test_missing_torchvision_is_one_line_naming_the_fix(maskrcnn_dir: Path) -> None:
    """As a user without torchvision sees it: `unetkit serve RUN` exits 2 before serving, one line."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torchvision"] = None  # any import of torchvision now fails
        from unetkit.cli.main import main
        sys.exit(main(["serve", {str(maskrcnn_dir)!r}, "--port", "0"]))
        """
    )
    result = run_fresh_python(script)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        f"error: {maskrcnn_dir} is a Mask R-CNN model, which needs torchvision (not installed): "
        f"{pip_install('torchvision')}"  # pyproject's pin, the installed torch kept (tests/inference)
    ), result.stderr[-3000:]


def test_serve_and_predict_report_a_missing_package_in_the_same_words(
    maskrcnn_without_torchvision: Path,
) -> None:
    """One home for the message: serve's predictor cache loads through predict's loader."""
    from unetkit.inference import instance_predictor as ip
    from unetkit.serve.jobs import PredictorCache

    model = maskrcnn_without_torchvision
    with pytest.raises(ValueError) as served:
        PredictorCache(model, backend="auto").get()
    with pytest.raises(ValueError) as predicted:
        ip.load_instance_predictor(model, backend="auto")
    assert (
        str(served.value)
        == str(predicted.value)
        == (
            f"{model} is a Mask R-CNN model, which needs torchvision (not installed): "
            f"{pip_install('torchvision')}"
        )
    )
