"""Measure the disk size of the virtualenv that ``scripts/bootstrap.sh`` builds, and its largest packages.

The README quotes the total from here: users ask how much disk the set-up takes before they run it. Most of
it is the CUDA build of torch 2.14.1 (the only torch that torchvision imports beside on this machine's
wheels) and the NVIDIA libraries pip installs with it; they load only on a GPU.

    .venv/bin/python benchmarks/venv_size.py [--venv .venv] [--out benchmarks/results/venv]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # benchmarks/harness.py: machine info, writing results

GIB = 1024**3


def tree_bytes(root: Path) -> int:
    """Bytes of every regular file under ``root`` (links are not followed, so nothing counts twice)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def package_sizes(venv: Path) -> dict[str, int]:
    """Bytes per top-level entry of the venv's site-packages, largest first."""
    site = next(venv.glob("lib/python*/site-packages"))
    sizes = {p.name: (tree_bytes(p) if p.is_dir() else p.stat().st_size) for p in site.iterdir()}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parent.parent
    p.add_argument("--venv", type=Path, default=root / ".venv")
    p.add_argument("--out", type=Path, default=root / "benchmarks" / "results" / "venv")
    args = p.parse_args(argv)
    total = tree_bytes(args.venv)
    packages = package_sizes(args.venv)
    top = {name: round(size / GIB, 2) for name, size in list(packages.items())[:8]}
    result = {
        "meta": {"command": harness.command_line(), "machine_info": harness.machine_info("")},
        "venv_gib": round(total / GIB, 1),
        "largest_packages_gib": top,
    }
    rows = "\n".join(f"| {name} | {gib} |" for name, gib in top.items())
    markdown = (
        f"# .venv size\n\n`{result['meta']['command']}`\n\n"
        f"Total: {result['venv_gib']} GiB\n\n| package | GiB |\n|---|---:|\n{rows}\n"
    )
    harness.write_results(args.out, "venv_size", result, markdown)
    return result


if __name__ == "__main__":
    main()
