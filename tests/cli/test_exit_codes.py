"""Every exit code has one home, unetkit.constants: the command modules name them from there and define no
exit-code constant (or bare status number) of their own, so a code cannot drift apart between commands."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import unetkit.constants as constants

CLI = Path(__file__).resolve().parents[2] / "src" / "unetkit" / "cli"
# Every command-line module (console.py had kept unused EXIT_OK/EXIT_PARTIAL copies).
MODULES = tuple(sorted(p.stem for p in CLI.glob("*.py") if p.stem != "__init__"))
CODES = {value for name, value in vars(constants).items() if name.startswith("EXIT_")}


def _returned_ints(value: ast.expr | None) -> list[int]:
    """The int literals a return statement may return as they are (through ``a if c else b``)."""
    if isinstance(value, ast.IfExp):
        return _returned_ints(value.body) + _returned_ints(value.orelse)
    if isinstance(value, ast.Constant) and type(value.value) is int:
        return [value.value]
    return []


def test_constants_hold_every_code_once() -> None:
    names = {name: value for name, value in vars(constants).items() if name.startswith("EXIT_")}
    assert names == {
        "EXIT_OK": 0,
        "EXIT_USAGE": 2,
        "EXIT_PARTIAL": 3,
        "EXIT_DIVERGED": 4,
        "EXIT_INTERRUPTED": 130,
        "EXIT_BROKEN_PIPE": 141,
        "EXIT_TERMINATED": 143,
    }
    assert len(set(names.values())) == len(names)  # no code means two things


@pytest.mark.parametrize("name", MODULES)
def test_cli_module_defines_no_exit_code(name: str) -> None:
    tree = ast.parse((CLI / f"{name}.py").read_text())
    own = [
        target.id
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id.startswith("EXIT_")
    ]
    assert own == [], f"cli/{name}.py defines {own}; import them from unetkit.constants"
    # A status returned as a bare number (`return 2`, `return ... if ... else 2`) is a copy too; 0 is also
    # a count, so only the non-zero codes are looked for.
    bare = [
        (node.lineno, value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Return)
        for value in _returned_ints(node.value)
        if value in CODES - {0}
    ]
    assert bare == [], f"cli/{name}.py returns bare exit codes at (line, code) {bare}"
    module = importlib.import_module(f"unetkit.cli.{name}")
    for attr, value in vars(module).items():
        if attr.startswith("EXIT_"):
            assert value is getattr(constants, attr), f"cli/{name}.py's {attr} is not unetkit.constants'"


def test_bad_input_exits_with_the_usage_code(tmp_path: Path) -> None:
    from unetkit.cli.main import main

    code = main(["predict", str(tmp_path / "no-such-model"), str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == constants.EXIT_USAGE
