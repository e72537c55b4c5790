"""ffmpeg's failures as public messages (worker/pipeline/ffmpeg.py): the gist, short, without the
host's paths; the whole log kept in the job's folder. No ffmpeg runs here: the log is a copy of
the kind a failed loudness pass writes."""

from __future__ import annotations

from pathlib import Path

from worker.pipeline.ffmpeg import GIST_CHARS, LOG_NAME, ffmpeg_error


def failed_pass_log(work_dir: Path, songs_dir: Path) -> str:
    """ffmpeg at `-loglevel info` on two inputs: their listings, then the failure at the end."""
    streams = "\n".join(
        f"  Stream #{n}:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 22050 Hz, mono, s16, 352 kb/s"
        for n in range(12)
    )
    return f"""Input #0, wav, from '{work_dir}/voice.wav':
  Duration: 00:00:08.62, bitrate: 352 kb/s
{streams}
Input #1, mp3, from '{songs_dir}/calm-piano-1a2b3c4d.mp3':
  Metadata:
    title           : Calm piano
  Duration: 00:02:31.05, start: 0.025057, bitrate: 128 kb/s
  Stream #1:0: Audio: mp3, 44100 Hz, stereo, fltp, 128 kb/s
Stream mapping:
  Stream #0:0 (pcm_s16le) -> volume:default
  Stream #1:0 (mp3float) -> aloop:default
Press [q] to stop, [?] for help
size=N/A time=00:00:01.00 bitrate=N/A speed=  20x
[mp3float @ 0x55d4c3a2b0c0] Header missing
[mp3float @ 0x55d4c3a2b0c0] Header missing
Error while decoding stream #1:0: Invalid data found when processing input
[Parsed_loudnorm_5 @ 0x55d4c3a2f740] Invalid sample rate for {work_dir}/voice.wav
Error while filtering: Invalid argument
Failed to inject frame into filter network: Invalid argument
Error while processing the decoded data for stream #0:0
Conversion failed!
"""


def test_the_message_is_the_gist_without_the_hosts_paths(tmp_path: Path) -> None:
    work_dir = tmp_path / "srv" / "data" / "jobs" / "0b7c" / "1"
    work_dir.mkdir(parents=True)
    log = failed_pass_log(work_dir, tmp_path / "srv" / "data" / "songs")
    assert len(log) > 1500

    error = ffmpeg_error(1, log, work_dir=work_dir)

    assert error.retryable is False
    assert error.message.startswith("ffmpeg failed (exit code 1): ")
    assert error.message.endswith(f"(full log: {LOG_NAME} in the job's folder)")
    assert len(error.message) < GIST_CHARS + 100
    assert str(tmp_path) not in error.message
    assert "0x55d4" not in error.message  # memory addresses tell the user nothing
    # The cause, not what ffmpeg prints after every failure ("Conversion failed!").
    assert "[Parsed_loudnorm_5] Invalid sample rate for voice.wav" in error.message
    assert "Conversion failed!" not in error.message
    assert error.message.count("Header missing") == 1
    assert "Stream #0:0: Audio" not in error.message  # the listing is not the gist


def test_paths_in_the_jobs_folder_are_shown_relative_to_it(tmp_path: Path) -> None:
    work_dir = tmp_path / "jobs" / "0b7c" / "1"
    work_dir.mkdir(parents=True)
    log = (
        f"[Parsed_subtitles_0 @ 0x5581a2c0] Unable to open {work_dir}/subtitles.ass\n"
        f"{tmp_path}/media/octopus.mp4: Invalid data found when processing input\n"
    )

    message = ffmpeg_error(1, log, work_dir=work_dir).message

    assert "[Parsed_subtitles_0] Unable to open subtitles.ass" in message
    assert "octopus.mp4: Invalid data found" in message
    assert str(tmp_path) not in message


def test_the_whole_log_stays_in_the_jobs_folder(tmp_path: Path) -> None:
    log = failed_pass_log(tmp_path, tmp_path / "songs")

    ffmpeg_error(1, log, work_dir=tmp_path)

    assert (tmp_path / LOG_NAME).read_text(encoding="utf-8") == log


def test_a_log_the_caller_already_keeps_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / LOG_NAME).write_text("the render's own log, with every decoder's lines\n")

    ffmpeg_error(1, "the encoder's last lines\n", work_dir=tmp_path)

    assert (tmp_path / LOG_NAME).read_text().startswith("the render's own log")


def test_a_signal_is_retryable_and_says_so(tmp_path: Path) -> None:
    error = ffmpeg_error(-9, "frame=  120 fps= 30\n", work_dir=tmp_path)

    assert error.retryable is True
    assert error.message == "ffmpeg was killed by signal 9"
