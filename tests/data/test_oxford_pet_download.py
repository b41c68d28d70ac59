"""Oxford-IIIT Pet's download, run on local archives (``file://`` URLs; no network in the tests): checked,
extracted, and never left half-extracted where a later call would take it for complete."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from unetkit.data.datasets import oxford_pet


def _archive(path: Path, files: dict[str, bytes]) -> tuple[str, str, str]:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.name, path.as_uri(), hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def local_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    served = tmp_path / "served"
    served.mkdir()
    urls = [
        _archive(served / "images.tar.gz", {f"images/cat_{i}.jpg": b"jpeg" for i in range(3)}),
        _archive(
            served / "annotations.tar.gz",
            {
                "annotations/trimaps/cat_0.png": b"png",
                "annotations/trainval.txt": b"",
                "annotations/test.txt": b"",
            },
        ),
    ]
    monkeypatch.setattr(oxford_pet, "OXFORD_PET_URLS", tuple(urls))
    monkeypatch.setattr(oxford_pet, "MIN_IMAGES", 3)
    return urls


def test_the_download_checks_extracts_and_removes_its_archives(
    tmp_path: Path, local_archives: list[tuple[str, str, str]]
) -> None:
    root = oxford_pet.download_oxford_pet(tmp_path / "pets")
    assert sorted(p.name for p in (root / "images").iterdir()) == ["cat_0.jpg", "cat_1.jpg", "cat_2.jpg"]
    assert (root / "annotations" / "trimaps" / "cat_0.png").read_bytes() == b"png"
    assert sorted(p.name for p in root.iterdir()) == ["annotations", "images"]  # archives deleted, no staging


def test_a_download_with_another_md5_leaves_no_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_archives: list[tuple[str, str, str]]
) -> None:
    name, url, _ = local_archives[0]
    monkeypatch.setattr(oxford_pet, "OXFORD_PET_URLS", ((name, url, "0" * 32),))
    with pytest.raises(ValueError, match=r"has MD5 [0-9a-f]{32}, expected 0{32}; the file is incomplete"):
        oxford_pet.download_oxford_pet(tmp_path / "pets")
    assert list((tmp_path / "pets").iterdir()) == []


def test_an_interrupted_extraction_leaves_nothing_a_later_call_takes_for_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_archives: list[tuple[str, str, str]]
) -> None:
    """Extracted in place, a stopped extraction left a partial images/ the next call skipped as present."""
    real = tarfile.TarFile.extractall

    def stopped(self: tarfile.TarFile, path: str, members: list[tarfile.TarInfo], **kwargs: object) -> None:
        real(self, path, members=members[:1], **kwargs)  # type: ignore[arg-type]
        raise OSError("No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", stopped)
    root = tmp_path / "pets"
    with pytest.raises(OSError, match="No space left"):
        oxford_pet.download_oxford_pet(root)
    assert sorted(p.name for p in root.iterdir()) == ["images.tar.gz"]  # no images/, no staging folder
    monkeypatch.setattr(tarfile.TarFile, "extractall", real)
    oxford_pet.download_oxford_pet(root)
    assert len(list((root / "images").iterdir())) == 3
