"""``--help`` and usage texts a new user reads first (a trial: no --version, no demo description, an
optional KEY=VALUE reported as required, defaults left unstated)."""

from __future__ import annotations

import pytest

from unetkit.cli.main import build_parser


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(list(argv))
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out + captured.err


def test_version_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _help(capsys, "--version")
    assert code == 0 and text.startswith("unetkit ")


@pytest.mark.parametrize("command", ["validate", "test"])
def test_validate_names_only_its_required_argument_and_what_it_rewrites(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, text = _help(capsys, command)
    assert code == 2 and text.rstrip().endswith("the following arguments are required: RUN_DIR")
    _, text = _help(capsys, command, "--help")
    assert "metrics_<split>.json" in " ".join(text.split()) and "{train,val,test}" in text


def test_demo_says_what_it_does_and_where_its_data_goes(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _help(capsys, "demo", "--help")
    assert code == 0 and "UNETKIT_CACHE" in text and "K-means" in text


def test_fit_seed_sets_the_training_seed(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """A trial: `fit --seed 1` was an unknown argument (fit-maskrcnn and kmeans take --seed)."""
    import unetkit.cli.fit as fit_cli
    from unetkit.cli.main import main

    seen: list[int] = []
    monkeypatch.setattr(
        fit_cli, "_train", lambda args, config, planned: seen.append(config.trainer.seed) or 0
    )
    assert main(["fit", "--config", "synthetic", "--seed", "3", f"output.root={tmp_path}"]) == 0
    assert seen == [3]


@pytest.mark.parametrize("error", [KeyboardInterrupt("training interrupted"), ValueError("bad value")])
def test_the_closing_line_starts_its_own_line_below_a_live_progress_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: BaseException
) -> None:
    """A trial: Ctrl-C mid-epoch printed "...loss_epoch=0.637]interrupted: ..." on the bar's line, and the bar
    was drawn again after it."""
    import sys

    from tqdm import tqdm

    import unetkit.cli.explain as explain_cli
    from unetkit.cli.main import main

    def stopped(args: object) -> int:
        bar = tqdm(total=10, file=sys.stderr, desc="Epoch 3")
        bar.update(4)
        raise error

    monkeypatch.setattr(explain_cli, "run", stopped)
    main(["explain", "conv"])
    err = capsys.readouterr().err
    closing = (
        "interrupted: training interrupted" if isinstance(error, KeyboardInterrupt) else "error: bad value"
    )
    assert f"\n{closing}" in err and err.rstrip().endswith(closing)


@pytest.mark.parametrize("command", ["predict", "benchmark", "convert", "kmeans", "serve"])
def test_help_shows_no_developer_text(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """A trial: predict's help ended with ":func:`unetkit.inference.batch.predict_files`; this module parses
    arguments", benchmark's named its library module, and RST ``backticks`` showed."""
    _, text = _help(capsys, command, "--help")
    assert ":func:" not in text and ":mod:" not in text and "``" not in text


def test_predict_help_states_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    _, text = _help(capsys, "predict", "--help")
    flat = " ".join(text.split())
    for default in ("(default gaussian)", "(default none)", "(default float16)", "(default on)"):
        assert default in flat, default


def test_the_cli_keeps_missing_glyph_warnings_off_the_console() -> None:
    """A trial: CJK file names printed matplotlib's "Glyph 20013 ... missing from font(s)" 2-4 times a run."""
    import warnings

    from unetkit.cli.main import _quiet_third_party

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _quiet_third_party()
        warnings.warn(
            "Glyph 20013 (\\N{CJK UNIFIED IDEOGRAPH-4E2D}) missing from font(s) DejaVu Sans.",
            UserWarning,
            stacklevel=1,
        )
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["another warning"]
