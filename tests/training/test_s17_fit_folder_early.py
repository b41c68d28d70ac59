"""fit_folder refuses what cannot be right before it plans (a trial waited ~28 s of measuring for each
error), in fit_folder's words (``out=``, ``seed=``), and takes ``seed=`` as ``--seed`` does."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import unetkit
from unetkit.planning import folder


def _folder(root: Path, n: int = 4) -> Path:
    for i in range(n):
        for sub, array in (
            ("images", np.full((16, 16), 40 + i, np.uint8)),
            ("masks", np.zeros((16, 16), np.uint8)),
        ):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / sub / f"img{i}.png")
    return root


@pytest.fixture
def no_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning fails the test: every refusal below must come before it."""

    @functools.wraps(folder.plan_folder)  # its signature: fit_folder checks keywords against it
    def planned(*args: object, **kwargs: object) -> None:
        raise AssertionError("fit_folder planned before refusing its arguments")

    monkeypatch.setattr("unetkit.planning.folder.plan_folder", planned)


@pytest.mark.usefixtures("no_planning")
def test_a_finished_or_held_out_folder_is_refused_before_planning_naming_out(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    finished = tmp_path / "runs" / "done"
    (finished / "model").mkdir(parents=True)
    (finished / "config.yaml").write_text("{}\n")
    (finished / "model" / "config.json").write_text("{}\n")
    (finished / "metrics_val.json").write_text("{}\n")
    with pytest.raises(ValueError, match=r"holds a finished run; choose another \(out=\.\.\.\)") as err:
        unetkit.fit_folder(root, "1m", score="val", out=finished)
    assert "--out" not in str(err.value)
    started = tmp_path / "runs" / "started"
    (started / "checkpoints").mkdir(parents=True)
    (started / "config.yaml").write_text("{}\n")
    (started / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"already exists; choose another \(out=\.\.\.\)") as err:
        unetkit.fit_folder(root, out=started)
    assert "continue it with unetkit fit --resume" in str(err.value) and "--out" not in str(err.value)
    # output.name=... in the overrides is the same folder, checked the same way.
    with pytest.raises(ValueError, match="holds a finished run"):
        unetkit.fit_folder(root, overrides=[f"output.root={finished.parent}", "output.name=done"])


@pytest.mark.usefixtures("no_planning")
def test_bad_overrides_are_refused_before_planning(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    with pytest.raises(ValueError, match=r"Config key trainer\.max_epochs=0 is invalid"):
        unetkit.fit_folder(root, "1m", overrides=["trainer.max_epochs=0"])
    with pytest.raises(ValueError, match=r"Unknown config key 'trainer\.max_epoch'\. Did you mean"):
        unetkit.fit_folder(root, "1m", overrides=["trainer.max_epoch=3"])
    with pytest.raises(ValueError, match=r"Config key data\.batch_size='x' is invalid"):
        unetkit.fit_folder(root, overrides=["data.batch_size=x"])


@pytest.mark.usefixtures("no_planning")
def test_seed_and_unknown_keywords_are_fit_folders_own_errors(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    # Unknown keywords: a TypeError from fit_folder (it was plan_folder's), naming seed= and overrides.
    with pytest.raises(TypeError, match=r"fit_folder\(\) got an unexpected keyword argument 'sed'") as err:
        unetkit.fit_folder(root, sed=3)
    assert "seed" in str(err.value) and "overrides=['trainer.max_epochs=5']" in str(err.value)
    with pytest.raises(TypeError, match=r"seed must be an int, got str '3'; pass e\.g\. seed=3"):
        unetkit.fit_folder(root, seed="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"seed=3 and the override trainer\.seed=5 contradict each other"):
        unetkit.fit_folder(root, seed=3, overrides=["trainer.seed=5"])
    # seed= reaches planning (here: the stub), so it was taken.
    with pytest.raises(AssertionError, match="planned"):
        unetkit.fit_folder(root, seed=3, overrides=["trainer.seed=3"])


@pytest.mark.usefixtures("no_planning")
def test_every_run_folder_refusal_names_out_not_the_flag(tmp_path: Path) -> None:
    """The run-folder checks take the name of the option (``out=`` here): no message of fit_folder names the
    CLI's ``--out`` (they had been rewritten from the CLI's text, which missed some)."""
    root = _folder(tmp_path / "data")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(
        ValueError, match=r"exists and is not a folder; choose a new run folder \(out=\.\.\.\)"
    ):
        unetkit.fit_folder(root, out=a_file)
    others = tmp_path / "others"
    others.mkdir()
    (others / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds other files\); choose a new folder \(out=\.\.\.\)$"):
        unetkit.fit_folder(root, out=others)
    # A run folder under a file cannot be written: named as out=PATH.
    with pytest.raises(ValueError, match=rf"^out={a_file / 'run'}: {a_file} is a file, not a folder"):
        unetkit.fit_folder(root, out=a_file / "run")


def test_a_plan_for_another_device_is_refused_naming_device_keyword(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data")
    plan = tmp_path / "plan.yaml"
    plan.write_text("trainer:\n  accelerator: gpu\n")
    with pytest.raises(
        ValueError,
        match=r"^device='cpu': the plan file .* planned on cuda; drop device=, or plan again on cpu",
    ):
        unetkit.fit_folder(root, plan=plan, device="cpu")


@pytest.mark.usefixtures("no_planning")
@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_numpy_cannot_take_is_refused_naming_the_key(tmp_path: Path, seed: int) -> None:
    """A README trial's seed=-1 got NumPy's 'ValueError -1 is not in bounds, numpy accepts from 0 to
    4294967295' at training, naming neither the key nor the range."""
    root = _folder(tmp_path / "data")
    with pytest.raises(ValueError, match=rf"trainer.seed={seed} is invalid .* from 0 to 4294967295"):
        unetkit.fit_folder(root, "1m", score="val", out=tmp_path / "run", seed=seed)
    assert not (tmp_path / "run").exists()
