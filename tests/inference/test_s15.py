"""Library side of predict's threads and precision: ``load_predictor(num_threads=N)`` runs each forward
pass at N torch threads and leaves the process's count as it found it (also with threads sharing the
predictor); ``precision`` reaches the torch forward pass (bf16 autocast) and is refused where it cannot run
as asked."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unetkit.inference import variants
from unetkit.inference.backends import load_predictor
from unetkit.inference.predictor import Predictor
from unetkit.model_files.model_config import ModelConfig
from unetkit.model_files.model_io import save_model
from unetkit.models import create_model

IMAGE = np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 1, "num_classes": 2, "depth": 2, "base_channels": 4}
    config = ModelConfig("unet", kwargs, ["bg", "fg"], [0.5], [0.25])
    return save_model(create_model("unet", **kwargs), config, tmp_path / "model")


@pytest.fixture
def torch_threads_back() -> Any:
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def _on_forward(predictor: Any, hook: Any) -> None:
    """Call ``hook()`` inside every forward pass of the predictor's model."""
    predictor.model.register_forward_pre_hook(lambda *_: hook())


def test_threads_are_set_for_each_forward_pass_and_put_back(model_dir: Path, torch_threads_back: int) -> None:
    before = torch_threads_back
    wanted = 1 if before > 1 else 2  # a count torch does not have already
    predictor = load_predictor(model_dir, backend="torch", device="cpu", num_threads=wanted)
    assert torch.get_num_threads() == before  # loading leaves the process's count alone
    seen: list[int] = []
    _on_forward(predictor, lambda: seen.append(torch.get_num_threads()))
    predictor.predict(IMAGE)
    assert seen and set(seen) == {wanted}
    assert torch.get_num_threads() == before
    # None: the process's count as it is, nothing set.
    plain = load_predictor(model_dir, backend="torch", device="cpu")
    seen.clear()
    _on_forward(plain, lambda: seen.append(torch.get_num_threads()))
    plain.predict(IMAGE)
    assert set(seen) == {before} and torch.get_num_threads() == before


def test_threads_sharing_a_predictor_keep_its_count_until_the_last_is_done(
    model_dir: Path, torch_threads_back: int
) -> None:
    """A serve thread pool: the first worker to finish must not put the count back under the other one, and
    the last must put back the count from before both, not the one the first had set.

    Counts are read in the threads: with OpenMP the main thread can keep a count of its own while the other
    threads share one."""
    before = torch_threads_back
    in_threads = _read_in_a_thread()
    wanted = 1 if in_threads > 1 else 2  # a count the worker threads do not have already
    predictor = load_predictor(model_dir, backend="torch", device="cpu", num_threads=wanted)
    first_in, second_in, first_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, list[int]] = {"first": [], "second": []}
    errors: list[BaseException] = []

    def hook() -> None:
        name = threading.current_thread().name
        seen[name].append(torch.get_num_threads())
        if name == "first":
            first_in.set()
            second_in.wait(10)  # both inside a forward pass; the first leaves first
        else:
            second_in.set()
            first_done.wait(10)
            seen[name].append(torch.get_num_threads())  # the first has left: still the predictor's count

    _on_forward(predictor, hook)

    def work() -> None:
        try:
            predictor.predict(IMAGE)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    first = threading.Thread(target=work, name="first")
    first.start()
    assert first_in.wait(10)
    second = threading.Thread(target=work, name="second")
    second.start()
    first.join(10)
    first_done.set()
    second.join(10)
    assert not errors
    assert set(seen["first"]) == {wanted} and set(seen["second"]) == {wanted}
    assert _read_in_a_thread() == in_threads and torch.get_num_threads() == before


def _read_in_a_thread() -> int:
    """torch's thread count as a new thread (a serve worker) finds it."""
    found: list[int] = []
    reader = threading.Thread(target=lambda: found.append(torch.get_num_threads()))
    reader.start()
    reader.join(10)
    return found[0]


def _dtypes(predictor: Any) -> list[torch.dtype]:
    """The dtype of the first conv's output in each forward pass (bf16 under bf16 autocast)."""
    conv = next(m for m in predictor.model.modules() if isinstance(m, torch.nn.Conv2d))
    seen: list[torch.dtype] = []
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    predictor.predict(IMAGE)
    return seen


def test_precision_reaches_the_torch_forward_pass(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants, "native_bf16", lambda flags=None: True)  # tiny: emulated bf16 is fine
    bf16: Any = load_predictor(model_dir, backend="torch", device="cpu", precision="bf16")
    assert isinstance(bf16, Predictor) and bf16.precision == "bf16" and set(_dtypes(bf16)) == {torch.bfloat16}
    fp32 = load_predictor(model_dir, backend="torch", device="cpu", precision="fp32")
    assert set(_dtypes(fp32)) == {torch.float32}
    # No precision: as before the option existed (fp32; --amp: bf16 autocast on a CPU), reported as None.
    plain: Any = load_predictor(model_dir, backend="torch", device="cpu")
    assert plain.precision is None and set(_dtypes(plain)) == {torch.float32}
    amp = load_predictor(model_dir, backend="torch", device="cpu", amp=True)
    assert set(_dtypes(amp)) == {torch.bfloat16}


def test_precision_is_refused_where_it_cannot_run_as_asked(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(variants, "native_bf16", lambda flags=None: False)
    with pytest.raises(ValueError, match=r"^bf16 needs a CPU with native bf16 .*: use fp32\.$"):
        load_predictor(model_dir, backend="torch", device="cpu", precision="bf16")
    with pytest.raises(ValueError, match="amp and precision 'fp32' both set the precision"):
        load_predictor(model_dir, backend="torch", device="cpu", precision="fp32", amp=True)
    with pytest.raises(ValueError, match="fp16"):
        load_predictor(model_dir, backend="torch", device="cpu", precision="fp16")


def test_an_int8_openvino_folder_is_not_run_under_another_precision(tmp_path: Path) -> None:
    """``--backend openvino --precision fp32`` on ``export/int8-openvino`` ran the INT8 IR, named fp32."""
    from unetkit.inference.ov_backend import OvPredictor

    export = tmp_path / "export"
    (export / "int8-openvino").mkdir(parents=True)
    (export / "config.json").write_text("{}")
    (export / "int8-openvino" / "model.xml").write_text("<net/>")
    with pytest.raises(
        ValueError, match=r"is the INT8 OpenVINO model of .*export; for fp32 pass that folder"
    ):
        OvPredictor(export / "int8-openvino", precision="fp32")
