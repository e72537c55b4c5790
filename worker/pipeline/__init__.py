"""The pipeline: a spec and a work folder in, result files out; no database, no event loop."""

from __future__ import annotations

from pathlib import Path

from app.domain import VideoSpec
from worker.pipeline import render, script, subtitles, voice
from worker.pipeline.base import (
    OutputFile,
    PipelineError,
    PipelineOptions,
    PipelineResult,
    ProgressEvent,
    Report,
)

__all__ = [
    "OutputFile",
    "PipelineError",
    "PipelineOptions",
    "PipelineResult",
    "ProgressEvent",
    "Report",
    "run_pipeline",
]

# Where each stage starts in the job's overall progress; the render takes the rest.
START = {"script": 0.0, "voice": 0.02, "subtitles": 0.15, "render": 0.17}
MAX_CUE_WORDS = {"9:16": 6, "1:1": 7, "16:9": 10}


def run_pipeline(
    spec: VideoSpec, work_dir: Path, *, options: PipelineOptions, report: Report
) -> PipelineResult:
    """Script → voice → subtitles → render, in `work_dir`. Raises PipelineError on failure."""
    work_dir.mkdir(parents=True, exist_ok=True)
    report(ProgressEvent("script", START["script"], "Reading the script."))
    text = script.resolve_script(spec)
    (work_dir / "script.txt").write_text(text + "\n", encoding="utf-8")
    sentences = script.split_sentences(text)

    track = _voice(sentences, work_dir, spec=spec, options=options, report=report)

    width_px, height_px = render.frame_size_px(spec.aspect, spec.quality)
    report(ProgressEvent("subtitles", START["subtitles"], f"Timing {len(sentences)} sentence(s)."))
    cues = subtitles.split_cues(track.sentences, max_words=MAX_CUE_WORDS[spec.aspect])
    style = subtitles.SubtitleStyle(
        width_px=width_px,
        height_px=height_px,
        font_name=options.font_name,
        font_size_px=subtitles.scaled_font_size_px(
            spec.font_size, width_px=width_px, height_px=height_px
        ),
        color=spec.color,
        position=spec.subtitles_position,
    )
    ass_path = work_dir / "subtitles.ass"
    subtitles.write_ass(cues, ass_path, style=style)

    plan = render.plan_render(
        subject=spec.video_subject,
        aspect=spec.aspect,
        quality=spec.quality,
        duration_s=track.duration_s,
    )
    report(
        ProgressEvent(
            "render",
            START["render"],
            f"Rendering {width_px}×{height_px}, {track.duration_s:.1f} s ({spec.quality}).",
        )
    )
    span = 1.0 - START["render"]
    video = render.render_video(
        plan,
        work_dir,
        ffmpeg_exe=options.ffmpeg_exe,
        voice_name=track.path.name if track.path else None,
        ass_name=ass_path.name,
        on_progress=lambda done: report(ProgressEvent("render", START["render"] + span * done)),
    )
    media = {"durationS": round(track.duration_s, 3), "widthPx": width_px, "heightPx": height_px}
    outputs = [
        OutputFile("video", video, "video/mp4", media),
        OutputFile("script", work_dir / "script.txt", "text/plain"),
        OutputFile("subtitles", ass_path, "text/x-ssa"),
    ]
    if track.path is not None:
        outputs.append(OutputFile("voice", track.path, "audio/wav", {"engine": track.engine}))
    return PipelineResult(video=video, duration_s=track.duration_s, outputs=outputs)


def _voice(
    sentences: list[str],
    work_dir: Path,
    *,
    spec: VideoSpec,
    options: PipelineOptions,
    report: Report,
) -> voice.VoiceTrack:
    if options.voice.espeak_exe is None:
        report(
            ProgressEvent(
                "voice",
                START["voice"],
                "espeak-ng is not installed: the video is silent, timed at 2.5 words/s.",
                level="warning",
            )
        )
        return voice.silent_track(sentences)
    report(ProgressEvent("voice", START["voice"], "Synthesising the voice with espeak-ng."))
    span = START["subtitles"] - START["voice"]
    return voice.synthesize_espeak(
        sentences,
        work_dir,
        espeak_exe=options.voice.espeak_exe,
        voices=voice.espeak_voices(voice=spec.voice, language=spec.language),
        on_sentence=lambda done: report(
            ProgressEvent("voice", START["voice"] + span * done / len(sentences))
        ),
    )
