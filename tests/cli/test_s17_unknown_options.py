"""A mistyped option (``unetkit fit DIR --tiem 1m``) gets one line naming the subcommand's closest option,
exit 2 as argparse's own refusal (a user trial got only "unrecognized arguments")."""

from __future__ import annotations

import pytest

from unetkit.cli.main import main


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["fit", "DIR", "--tiem", "1m"],
            "unetkit fit: error: unrecognized arguments: --tiem 1m; did you mean --time?",
        ),
        (
            ["plan", "DIR", "--unmached", "skip"],
            "unetkit plan: error: unrecognized arguments: --unmached skip; did you mean --unmatched?",
        ),
        (
            ["predict", "RUN", "x.png", "--out", "o", "--instnces", "auto"],
            "unetkit predict: error: unrecognized arguments: --instnces auto; did you mean --instances?",
        ),
        (
            ["fit", "DIR", "--tiem=1m", "--sede", "3"],
            "unetkit fit: error: unrecognized arguments: --tiem=1m --sede 3; "
            "did you mean --time (for --tiem), --seed (for --sede)?",
        ),
        (
            ["predict", "RUN", "x.png", "--out", "o", "--zzzz"],
            "unetkit predict: error: unrecognized arguments: --zzzz; "
            "unetkit predict --help lists its options",
        ),
    ],
)
def test_an_unknown_option_names_the_closest_of_its_subcommand(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == line + "\n"  # one line, no usage block
    assert captured.out == ""
