"""The render plan, the cut, the ffmpeg command and progress parsing, without running ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.domain import Aspect, Quality
from app.media import Clip
from worker.errors import PipelineError
from worker.pipeline.ffmpeg import filter_value
from worker.pipeline.mix import Loudness, loudness_command, parse_loudness
from worker.pipeline.render import (
    RenderPlan,
    ffmpeg_command,
    frame_size_px,
    plan_render,
    plan_segments,
    progress_fraction,
    scene_segments,
    segment_command,
)


def file_clip(name: str, duration_s: float) -> Clip:
    return Clip(
        "local", name, duration_s, 1920, 1080, path=Path(f"/media/{name}.mp4"), container="mov"
    )


GENERATED = Clip("generated", "b", 5.0, 135, 240, lavfi="gradients")


def make_plan(**changes: object) -> RenderPlan:
    arguments: dict[str, object] = {
        "aspect": "9:16",
        "quality": "draft",
        "duration_s": 4.25,
        "clips": [file_clip("a", 8.0), GENERATED],
        "scene_lengths_s": [2.0, 2.25],
        "voice": Path("voice.wav"),
        "subtitles": Path("subtitles.ass"),
        "music": None,
        "music_volume": 0.1,
        "fonts_dir": None,
    }
    arguments.update(changes)
    return plan_render(**arguments)  # type: ignore[arg-type]


def graph_of(command: list[str]) -> str:
    return command[command.index("-filter_complex") + 1]


@pytest.mark.parametrize(
    ("aspect", "quality", "size"),
    [
        ("9:16", "standard", (1080, 1920)),
        ("16:9", "high", (1920, 1080)),
        ("1:1", "standard", (1080, 1080)),
        ("9:16", "draft", (540, 960)),
        ("16:9", "draft", (960, 540)),
    ],
)
def test_frame_size_follows_aspect_and_quality(
    aspect: Aspect, quality: Quality, size: tuple[int, int]
) -> None:
    assert frame_size_px(aspect, quality) == size


@pytest.mark.parametrize(
    ("quality", "preset"), [("draft", "ultrafast"), ("standard", "veryfast"), ("high", "medium")]
)
def test_preset_follows_quality(quality: Quality, preset: str) -> None:
    command = ffmpeg_command(make_plan(quality=quality), ffmpeg_exe="ffmpeg", output_name="v.part")

    assert command[command.index("-preset") + 1] == preset


def test_command_encodes_h264_yuv420p_aac_at_30_fps_with_faststart() -> None:
    command = ffmpeg_command(make_plan(), ffmpeg_exe="ffmpeg", output_name="video.mp4.part")

    joined = " ".join(command)
    for expected in (
        "-c:v libx264", "-pix_fmt yuv420p", "-r 30", "-c:a aac", "-ar 48000",
        "-movflags +faststart", "-progress pipe:1", "-t 4.250",
        "-protocol_whitelist file -f wav -i file:voice.wav",
        "-map [v] -map [a]", "-f mp4 video.mp4.part",
    ):  # fmt: skip
        assert expected in joined


def segment_commands(plan: RenderPlan) -> list[str]:
    return [
        " ".join(segment_command(segment, plan, ffmpeg_exe="ffmpeg"))
        for segment in plan_segments(plan)
    ]


def test_every_segment_is_cropped_to_cover_then_scaled_into_exact_raw_frames() -> None:
    commands = segment_commands(make_plan())

    # Scenes of 2 s and 2.25 s, the last with 0.5 s of slack.
    assert len(commands) == 2
    for command in commands:
        assert "crop=w='min(iw,ih*540/960)':h='min(ih,iw*960/540)'" in command
        assert "scale=540:960,setsar=1,format=yuv420p" in command
        assert "fps=30" in command and ",pad=" not in command  # cover, never letterbox
        assert command.endswith("-an -f rawvideo -pix_fmt yuv420p pipe:1")
    assert [c.split("-frames:v ")[1].split()[0] for c in commands] == ["60", "82"]


def test_the_encoder_reads_raw_frames_and_burns_the_subtitles_in() -> None:
    command = ffmpeg_command(make_plan(), ffmpeg_exe="ffmpeg", output_name="v.part")

    joined = " ".join(command)
    assert (
        "-protocol_whitelist pipe -f rawvideo -pix_fmt yuv420p -video_size 540x960 "
        "-framerate 30 -i pipe:0" in joined
    )
    graph = graph_of(command)
    assert "[0:v]setsar=1,split[frames][probe]" in graph
    assert "[frames]null,ass=filename=subtitles.ass[v]" in graph
    # The checks' detectors see the same frames and write what they find beside the video.
    assert "[probe]scale=-2:320,blackdetect=" in graph
    assert "metadata=mode=print:file=frames.txt,nullsink" in graph


def test_each_scene_plays_its_own_clip_from_the_start_and_loops_a_short_one() -> None:
    clips = [file_clip("a", 12.0), file_clip("b", 3.0), file_clip("c", 9.0)]

    segments = scene_segments(clips, [4.0, 7.5, 5.0], slack_s=0.5)

    cut = [(s.clip.term, s.start_s, round(s.length_s, 3)) for s in segments]
    assert cut == [
        ("a", 0.0, 4.0), ("b", 0.0, 3.0), ("b", 0.0, 3.0), ("b", 0.0, 1.5), ("c", 0.0, 5.5),
    ]  # fmt: skip


def test_a_remainder_shorter_than_a_second_starts_the_clip_over() -> None:
    segments = scene_segments([file_clip("a", 5.5)], [10.0], slack_s=0.0)

    assert [(s.start_s, s.length_s) for s in segments] == [(0.0, 5.5), (0.0, 4.5)]


def test_pieces_of_a_clip_are_whole_frames_so_the_cut_keeps_to_the_voice() -> None:
    segments = scene_segments([file_clip("a", 2.01)], [5.0], slack_s=0.0)

    assert [round(s.length_s * 30, 6) for s in segments] == [60.0, 60.0, 30.0]


def test_segments_seek_inside_their_clip_and_generated_ones_use_lavfi() -> None:
    joined = " | ".join(segment_commands(make_plan(clips=[file_clip("a", 1.5), GENERATED])))

    # A file is opened as the container its bytes showed, through the file protocol only.
    assert "-t 1.500 -protocol_whitelist file -f mov -i file:/media/a.mp4" in joined
    assert "-ss 1.000" not in joined  # a remainder under a second starts the clip over
    assert "-t 0.500 -protocol_whitelist file -f mov -i file:/media/a.mp4" in joined
    # The last scene runs past the voice's end (the slack), so the encoder's -t cuts inside it.
    assert "-t 2.750 -f lavfi -i gradients" in joined


def test_a_still_is_moved_over_for_each_of_its_segments() -> None:
    still = Clip(
        "local", "harbour", 4.0, 1600, 1200, path=Path("/media/harbour.jpg"), container="jpeg_pipe"
    )
    first, *others = segment_commands(
        make_plan(clips=[still] * 3, scene_lengths_s=[2.0, 1.5, 1.5], duration_s=5.0)
    )

    # One picture, read as what its bytes are; the move makes exactly the segment's frames.
    assert " -ss " not in first and " -t " not in first
    assert "-protocol_whitelist file -f jpeg_pipe -i file:/media/harbour.jpg" in first
    assert "crop=w='min(iw,ih*540/960)':h='min(ih,iw*960/540)',scale=1080:1920" in first
    assert ":d=60:s=540x960:fps=30,format=yuv420p" in first and "-frames:v 60" in first
    # Each scene moves its own way: the moves are not all alike.
    moves = {command.split("zoompan=")[1].split(":d=")[0] for command in (first, *others)}
    assert len(moves) > 1


def test_without_footage_the_plan_is_refused_permanently() -> None:
    with pytest.raises(PipelineError) as raised:
        make_plan(clips=[])

    assert not raised.value.retryable


def test_music_is_looped_ducked_under_the_voice_and_faded_out() -> None:
    plan = make_plan(
        music=Path("/songs/calm.mp3"), music_volume=0.25, duration_s=10.0, scene_lengths_s=[5, 5]
    )

    command = ffmpeg_command(plan, ffmpeg_exe="ffmpeg", output_name="v.part")

    joined, graph = " ".join(command), graph_of(command)
    # The song is read as MP3 whatever its bytes say (never as a playlist naming other files).
    assert "-stream_loop -1 -protocol_whitelist file -f mp3 -i file:/songs/calm.mp3" in joined
    assert "volume=0.250,afade=t=out:st=8.000:d=2.0[music]" in graph
    assert "[music][key]sidechaincompress=" in graph
    assert "amix=inputs=2:duration=first:normalize=0,loudnorm=I=-14:TP=-2:LRA=11" in graph


def test_without_music_the_voice_alone_is_normalised() -> None:
    graph = graph_of(ffmpeg_command(make_plan(), ffmpeg_exe="ffmpeg", output_name="v.part"))

    assert "amix" not in graph and "sidechaincompress" not in graph
    assert "apad=whole_dur=4.250,loudnorm=I=-14:TP=-2:LRA=11,aresample=48000[a]" in graph


def test_without_a_voice_silence_of_the_same_length_is_not_normalised() -> None:
    command = ffmpeg_command(make_plan(voice=None), ffmpeg_exe="ffmpeg", output_name="v.part")

    assert "anullsrc=r=48000:cl=stereo:d=4.250" in command
    assert "loudnorm" not in graph_of(command)


def test_without_subtitles_nothing_is_burned_in() -> None:
    graph = graph_of(
        ffmpeg_command(make_plan(subtitles=None), ffmpeg_exe="ffmpeg", output_name="v.part")
    )

    assert "ass=" not in graph and "[frames]null[v]" in graph


def test_a_measured_loudness_makes_the_normalisation_a_linear_second_pass() -> None:
    loudness = Loudness(-21.0, -4.4, 1.2, -31.1, 0.9)

    graph = graph_of(
        ffmpeg_command(make_plan(), ffmpeg_exe="ffmpeg", output_name="v", loudness=loudness)
    )

    assert (
        "loudnorm=I=-14:TP=-2:LRA=11:measured_I=-21.0:measured_TP=-4.4:measured_LRA=1.2:"
        "measured_thresh=-31.1:offset=0.9:linear=true,aresample=48000" in graph
    )


def test_a_short_mix_gets_one_gain_and_a_limiter_at_four_times_the_rate() -> None:
    loudness = Loudness(-21.0, -4.4, 1.2, -31.1, 0.9)
    plan = make_plan(duration_s=2.5, scene_lengths_s=[1.0, 1.5])

    graph = graph_of(ffmpeg_command(plan, ffmpeg_exe="ffmpeg", output_name="v", loudness=loudness))

    # A dB under the -2 dBTP target (0.7079 = -3 dBFS): AAC overshoots what the limiter holds.
    assert (
        "aresample=192000,volume=7.00dB,alimiter=limit=0.7079:level=false,aresample=48000[a]"
        in graph
    )
    assert "loudnorm" not in graph


def test_a_silent_measurement_skips_the_normalisation() -> None:
    silent = Loudness(float("-inf"), float("-inf"), 0.0, -70.0, 0.0)

    graph = graph_of(
        ffmpeg_command(make_plan(), ffmpeg_exe="ffmpeg", output_name="v", loudness=silent)
    )

    assert "loudnorm" not in graph


def test_the_loudness_pass_mixes_the_audio_alone() -> None:
    command = loudness_command(make_plan(music=Path("m.mp3")), ffmpeg_exe="ffmpeg")

    graph = graph_of(command)
    assert "[0:a]" in graph and "[1:a]" in graph and "[0:v]" not in graph
    assert "print_format=json" in graph and command[-3:] == ["-f", "null", "-"]


def test_loudnorm_json_is_read_from_the_end_of_the_log() -> None:
    log = (
        "[Parsed_loudnorm_0 @ 0x1] \n{\n"
        '"input_i" : "-20.97", "input_tp" : "-4.37", "input_lra" : "1.20",\n'
        '"input_thresh" : "-31.08", "output_i" : "-14.97", "target_offset" : "0.97"\n}\n'
    )

    assert parse_loudness(log) == Loudness(-20.97, -4.37, 1.2, -31.08, 0.97)
    assert parse_loudness("no measurement") is None


def test_subtitle_and_font_paths_are_escaped_for_the_filtergraph() -> None:
    plan = make_plan(subtitles=Path("/tmp/a,b:c'd/s.ass"), fonts_dir=Path("/fonts[x]"))

    graph = graph_of(ffmpeg_command(plan, ffmpeg_exe="ffmpeg", output_name="v.part"))

    assert f"ass=filename={filter_value('/tmp/a,b:c' + chr(39) + 'd/s.ass')}:fontsdir=" in graph
    assert filter_value("a,b:c'd") == r"a\,b\\:c\\\'d"
    assert filter_value("/fonts[x]") == "/fonts\\[x\\]"


@pytest.mark.parametrize(
    ("line", "fraction"),
    [
        ("out_time_us=1500000\n", 0.5),
        ("out_time_us=9000000", 1.0),
        ("out_time_us=-9223372036854775807", 0.0),
        ("out_time_us=N/A", None),
        ("progress=continue", None),
        ("frame=12", None),
    ],
)
def test_progress_lines_give_the_fraction_done(line: str, fraction: float | None) -> None:
    assert progress_fraction(line, 3.0) == fraction


@pytest.mark.parametrize("threads", [1, 2, 100])
def test_the_threads_hint_is_held_to_this_machines_cores(threads: int) -> None:
    plan = make_plan(threads=threads)
    command = ffmpeg_command(plan, ffmpeg_exe="ffmpeg", output_name="video.mp4")

    cores = os.cpu_count() or 1
    assert plan.encoder_threads == max(1, min(threads, cores))
    assert command[command.index("-c:v") - 1] == str(plan.encoder_threads)
