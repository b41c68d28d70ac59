"""Every published headline number is traceable: README.md and docs/*.md numbers against their results files.

Convention (docs/benchmarks.md, "Where the numbers come from"): a number in the docs is followed by an HTML
comment naming the committed results file and the key that holds it::

    | U-Net test mIoU | 0.960<!-- source: benchmarks/results/demo/metrics_test.json miou --> |
    predicting "cell" everywhere gives 0.1965<!-- source: benchmarks/results/isbi_trivial.json pixel_error -->

The key is a dotted path; a list element is picked by index (``results.2.peak_rss_mb``) or by fields
(``rows[dataset=isbi2012,key=unet].scores.miou``). An optional third word scales the file's value first
(``*100`` for a percentage, ``/1024`` for MiB -> GiB). The number must equal the file's value rounded to the
decimals written. Every table row of README.md that shows a decimal number must carry one source per number,
so a headline table cannot gain an untraceable value.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
ALLOWED_DIRS = ("benchmarks/results/", "docs/results/")

NUMBER = r"(?P<number>\d[\d,]*(?:\.\d+)?)"  # no sign: "0.07-0.08" is a range
SOURCE = re.compile(
    NUMBER + r"(?P<unit>\s?(?:%|x|s|GiB|MiB|MB|GB))?\**\s*"
    r"<!--\s*source:\s*(?P<path>\S+)\s+(?P<key>\S+)(?:\s+(?P<scale>[*/]\s?[\d.e+-]+))?\s*-->"
)
COMMENT = re.compile(r"<!--.*?-->")
DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")


@cache
def _load(path: str) -> Any:
    return json.loads((ROOT / path).read_text())


def resolve(data: Any, key: str) -> Any:
    """Follow a dotted key with list indices and ``[field=value,...]`` selectors through JSON data (a JSON
    key that itself holds dots, such as ``test_at_0.5``, is matched whole)."""
    parts = re.findall(r"[^.\[\]]+(?:\[[^\]]*\])?", key)
    while parts:
        part = parts.pop(0)
        if isinstance(data, dict) and "[" not in part and part not in data:
            for n in range(len(parts), 0, -1):  # the longest dotted run of parts that is one key
                joined = ".".join([part, *parts[:n]])
                if joined in data:
                    part, parts = joined, parts[n:]
                    break
        name, _, selector = part.partition("[")
        if name:
            if isinstance(data, list):
                data = data[int(name)]
            elif name in data:
                data = data[name]
            else:
                raise KeyError(f"{name!r} not in {sorted(data)[:20]}")
        if selector:
            wanted = dict(pair.split("=", 1) for pair in selector.rstrip("]").split(","))
            matches = [row for row in data if all(str(row.get(k)) == v for k, v in wanted.items())]
            if len(matches) != 1:
                raise KeyError(f"selector [{selector} matched {len(matches)} rows, not 1")
            data = matches[0]
    return data


def sources(text: str) -> list[re.Match[str]]:
    return list(SOURCE.finditer(text))


def check_source(match: re.Match[str]) -> str | None:
    """None if the number agrees with its file, else a one-line reason."""
    path, key, scale = match["path"], match["key"], match["scale"]
    if not path.startswith(ALLOWED_DIRS):
        return f"{path}: results must be committed under {' or '.join(ALLOWED_DIRS)}"
    if not (ROOT / path).is_file():
        return f"{path}: file not found"
    try:
        value = float(resolve(_load(path), key))
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        return f"{path} {key}: {exc}"
    if scale:
        op, factor = scale[0], float(scale[1:])
        value = value * factor if op == "*" else value / factor
    written = match["number"].replace(",", "")
    decimals = len(written.partition(".")[2])
    # Half up on the number as the file writes it: round() of the binary float 0.7705 gave 0.770.
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if float(rounded) != pytest.approx(float(written), abs=10**-decimals / 100):
        return f"{written} != {value:.{decimals + 2}f} ({path} {key})"
    return None


def test_every_sourced_number_matches_its_results_file() -> None:
    problems, checked = [], 0
    for doc in DOCS:
        for match in sources(doc.read_text()):
            checked += 1
            reason = check_source(match)
            if reason:
                line = doc.read_text()[: match.start()].count("\n") + 1
                problems.append(f"{doc.relative_to(ROOT)}:{line}: {reason}")
    assert checked >= 10, f"only {checked} sourced numbers found: the convention is not in use"
    assert not problems, "\n".join(problems)


def test_readme_table_numbers_all_have_a_source() -> None:
    """A decimal number in a README table row needs a source comment right after it."""
    problems = []
    for i, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1):
        if not line.lstrip().startswith("|"):
            continue
        bare = len(DECIMAL.findall(COMMENT.sub("", line)))
        if bare > len(sources(line)):
            problems.append(f"README.md:{i}: {bare} decimal numbers, {len(sources(line))} sources: {line}")
    assert not problems, "\n".join(problems)


def test_readme_headline_tables_are_sourced() -> None:
    """The README's headline results (the demo, the ISBI floor) are tied to committed files."""
    text = (ROOT / "README.md").read_text()
    paths = {m["path"] for m in sources(text)}
    assert "benchmarks/results/demo/metrics_test.json" in paths
    assert "benchmarks/results/demo/kmeans_metrics.json" in paths


def test_the_check_catches_a_changed_number() -> None:
    """The checker itself: a README number changed by one unit in its last digit is reported."""
    text = (ROOT / "README.md").read_text()
    match = sources(text)[0]
    assert check_source(match) is None
    number = match["number"]
    last = int(number[-1])
    changed = number[:-1] + str((last + 1) % 10)
    edited = text[: match.start("number")] + changed + text[match.end("number") :]
    assert check_source(sources(edited)[0]) is not None


def test_resolve_selectors() -> None:
    data = {"rows": [{"k": "a", "v": {"x": 1}}, {"k": "b", "v": {"x": 2}}], "l": [5, 6]}
    assert resolve(data, "rows[k=b].v.x") == 2
    assert resolve(data, "l.1") == 6
    assert resolve({"a": {"at_0.5": 3}}, "a.at_0.5") == 3
    with pytest.raises(KeyError):
        resolve(data, "rows[k=c].v")
