"""An empty split list file is refused, not read as absent (trial 18, finding 2)."""

from __future__ import annotations

import pytest
from tests.planning.conftest import MakeDataset

from unetkit.planning.discovery import discover


@pytest.mark.parametrize("text", ["", "\n# no ids yet\n\n"])
def test_empty_test_list_is_refused(make_dataset: MakeDataset, text: str) -> None:
    root = make_dataset(24)
    (root / "train.txt").write_text("".join(f"img{i:02d}\n" for i in range(16)))
    (root / "val.txt").write_text("".join(f"img{i:02d}\n" for i in range(16, 20)))
    (root / "test.txt").write_text(text)
    with pytest.raises(ValueError, match=r"test\.txt is empty.*one per line, or delete the file"):
        discover(root)
