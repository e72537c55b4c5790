"""`moneyprinter render` as a user runs it: a real process, no server, no database, no network."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import moneyprinter_command

SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


def ffprobe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def run_render(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
           "OLLAMA_BASE_URL": "http://127.0.0.1:9"}  # fmt: skip
    return subprocess.run(
        [*moneyprinter_command(), "render", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_render_writes_the_video_where_asked(tmp_path: Path) -> None:
    output = tmp_path / "out" / "octopus.mp4"

    result = run_render(
        tmp_path, "--subject", "Octopuses", "--script", SCRIPT, "--quality", "draft",
        "-o", str(output),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)
    streams = {s["codec_type"]: s for s in ffprobe(output)["streams"]}  # type: ignore[union-attr]
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (540, 960)
    assert streams["audio"]["codec_name"] == "aac"
    assert (tmp_path / "out" / "octopus.mp4.files" / "script.txt").is_file()
    assert not list(output.parent.glob("*.part"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subject", "", "--script", SCRIPT], "video_subject"),
        (["--subject", "x", "--script", SCRIPT, "--language", "english!"], "language"),
    ],
)
def test_render_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_render(tmp_path, *args, "-o", str(tmp_path / "v.mp4"))

    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "v.mp4").exists()
