"""``unetkit serve`` on the command line: help, a bad MODEL fails before binding, and a real server on a
loopback port (health, predict over TCP, token from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="unetkit serve needs the 'serve' extra")
httpx = pytest.importorskip("httpx")

from serve_helpers import live_server, png_bytes, synthetic_slice  # noqa: E402

from unetkit.cli.main import main  # noqa: E402


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--backend", "--workers", "--token", "--max-upload-mb", "--queue"):
        assert option in out
    assert "127.0.0.1" in out


def test_bad_model_fails_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing" in err


@pytest.mark.parametrize(
    ("args", "words"), [(["--port", "70000"], "--port"), (["--workers", "0"], "--workers")]
)
def test_bad_arguments(
    model_dir: Path, args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(model_dir), *args]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.slow  # 9 s on a 2-vCPU Xeon: the default suite must stay under 10 minutes
def test_live_server_on_loopback(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with live_server(model_dir) as url:
        assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        assert httpx.get(url + "/api/health", timeout=30).json()["status"] == "ok"
        files = {"file": ("a.png", png_bytes(synthetic_slice(64)), "image/png")}
        response = httpx.post(url + "/api/predict", files=files, timeout=60)
        assert response.status_code == 200 and response.json()["width"] == 64
        assert httpx.get(url + response.json()["links"]["mask"], timeout=30).status_code == 200
    monkeypatch.setenv("UNETKIT_SERVE_TOKEN", "from-env")
    with live_server(model_dir, keep_token_env=True) as url:
        assert httpx.get(url + "/api/health", timeout=30).status_code == 401
        good = {"Authorization": "Bearer from-env"}
        assert httpx.get(url + "/api/health", headers=good, timeout=30).status_code == 200
        assert httpx.get(url + "/", timeout=30).status_code == 200
    assert os.environ["UNETKIT_SERVE_TOKEN"] == "from-env"
