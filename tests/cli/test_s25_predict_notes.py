"""Trial 24: ``predict --tta`` with views upside down or turned, on a model whose run found its scenes have an
up (trained without such views, scored with the mirror image), gets one note naming them and the run's TTA."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_models import three_images, tiny_unet

from unetkit.cli.main import main


@pytest.mark.parametrize(
    "tta,scored,named",
    [
        ("d4", "identity,hflip", "rot90, rot180, rot270, vflip, transpose, antitranspose"),
        ("flips", "identity,hflip", "vflip, rot180"),
        ("hflip", "identity,hflip", None),  # the mirror: seen
        ("d4", None, None),  # no scored TTA recorded: nothing known
        ("flips", "identity,hflip,vflip,rot180", None),  # a run without an up
    ],
)
def test_views_an_upright_model_never_saw_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tta: str, scored: str | None, named: str | None
) -> None:
    model = tiny_unet(tmp_path / "model", extra={"tta": scored} if scored else None)
    images = three_images(tmp_path / "images")
    assert main(["predict", str(model), str(images), "--out", str(tmp_path / "out"), f"--tta={tta}"]) == 0
    err = capsys.readouterr().err
    if named is None:
        assert "turn the image" not in err
    else:
        assert f"note: --tta views {named} turn the image or turn it upside down, but this model's run" in err
        assert f"scored with {scored}; --tta {scored} (or none) runs what it was scored with" in err
