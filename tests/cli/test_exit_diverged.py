"""A training run stopped by a NaN/inf loss exits 4 (constants.EXIT_DIVERGED), not bad input's 2: a script can
tell "lower the LR and retry" from "fix the files"."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetkit.cli.main import main
from unetkit.constants import EXIT_DIVERGED


def test_a_diverged_fit_exits_4_with_its_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import unetkit.training.fit as training_fit
    from unetkit.training.task import NonFiniteError

    def diverge(*args: object, **kwargs: object) -> None:
        raise NonFiniteError("loss became nan at epoch 1, step 12; lower optim.lr")

    monkeypatch.setattr(training_fit, "fit", diverge)
    monkeypatch.setenv("UNETKIT_CACHE", str(tmp_path / "cache"))
    code = main(["fit", "--config", "synthetic", f"output.root={tmp_path}", "trainer.max_epochs=1"])
    assert code == EXIT_DIVERGED == 4
    assert "error: loss became nan at epoch 1, step 12; lower optim.lr" in capsys.readouterr().err


def test_bad_input_still_exits_2(tmp_path: Path) -> None:
    assert main(["fit", str(tmp_path / "no-such-folder"), "--time", "1m"]) == 2
