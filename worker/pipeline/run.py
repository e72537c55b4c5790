"""The pipeline end to end: script → voice → search terms → footage → subtitles → music → render →
metadata, in a work folder, reporting progress; no database, no event loop."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain import VideoSpec, frame_size_px
from app.storage import sha256_file
from app.storyboard import Storyboard, StoryClip, StoryScene
from worker.cache import cache_key
from worker.errors import ProviderError
from worker.options import PipelineOptions
from worker.pipeline import (
    footage,
    metadata,
    music,
    qa,
    render,
    scenes,
    script,
    subtitles,
    terms,
    voice,
)  # fmt: skip
from worker.pipeline.base import OutputFile, PipelineResult, ProgressEvent, Report
from worker.pipeline.stages import StageStore
from worker.providers import tts
from worker.providers.footage import Candidate, Scene
from worker.providers.llm import LLM, llm_from_options

# Where each stage starts in the job's overall progress (the render is the long one).
START = {
    "script": 0.0,
    "voice": 0.05,
    "terms": 0.2,
    "footage": 0.22,
    "subtitles": 0.35,
    "render": 0.37,
    "metadata": 0.95,
    "qa": 0.97,
}
THUMBNAIL_AT_S = 1.5
KEPT = "The {} of an earlier attempt is used: its inputs have not changed."


@dataclass(frozen=True)
class Plan:
    """What the planning stages made: the narration, its voice, the scenes and their clips."""

    text: str
    track: voice.VoiceTrack
    scenes: list[scenes.ScenePlan]
    picks: list[footage.Pick]
    paragraph_ends: list[bool]  # one per sentence
    size_px: tuple[int, int]
    llm: LLM | None


def run_pipeline(
    spec: VideoSpec, work_dir: Path, *, options: PipelineOptions, report: Report,
    recent_clips: frozenset[str] = frozenset(), stages: StageStore = StageStore(None),
    storyboard: Storyboard | None = None, uploads_dir: Path | None = None, preview: bool = False,
) -> PipelineResult:  # fmt: skip
    """Make the video of `spec` in `work_dir`. Raises PipelineError (a ProviderError names the
    service) on failure; warnings from fallbacks arrive through `report`. `recent_clips`: the
    clips of recent videos of the same subject or account, used again only when nothing else
    fits. A stage whose inputs `stages` holds a record for (an earlier attempt's) is not run
    again; each stage is recorded there, but a footage choice made while a source failed. A
    reviewed `storyboard` gives the narration and the clips (those uploaded for it are in
    `uploads_dir`): no LLM writes, nothing is searched. A `preview` (a scene's draft for its
    reviewer) stops at the render: no title, no thumbnail, no checks."""
    report = _Progress(report)
    plan = _plan(
        spec, work_dir, options=options, report=report, recent_clips=recent_clips,
        stages=stages, storyboard=storyboard, uploads_dir=uploads_dir,
    )  # fmt: skip
    track, picks, (width_px, height_px) = plan.track, plan.picks, plan.size_px
    ass_path, srt_path = _subtitles(
        spec, track, work_dir, size_px=plan.size_px, options=options, report=report
    )
    song = music.choose_song(
        options.song_library(), requested=spec.song, use_music=spec.use_music,
        seed=spec.video_subject, work_dir=work_dir,
    )  # fmt: skip
    if spec.use_music and song is None:
        report(ProgressEvent("render", START["render"], "No songs uploaded: no music.", "warning"))
    elif song is not None:
        report(ProgressEvent("render", START["render"], f"Music: {song.name}."))
    video, render_key = _render(
        spec, plan, ass_path, song, work_dir, options=options, stages=stages, report=report
    )
    media = {"durationS": round(track.duration_s, 3), "widthPx": width_px, "heightPx": height_px}
    if preview:
        return PipelineResult(
            video=video, duration_s=track.duration_s, qa_passed=True, clips=[],
            outputs=[OutputFile("video", video, "video/mp4", media)],
        )  # fmt: skip
    described = _metadata(
        spec, plan.text, video, work_dir, render_key=render_key, llm=plan.llm, options=options,
        stages=stages, report=report,
    )  # fmt: skip
    longest_s = max(scene.length_s for scene in plan.scenes)
    checked = _check(
        video, qa.Expected(width_px, height_px, track.path, track.duration_s, srt_path, longest_s),
        work_dir, options=options, report=report,
    )  # fmt: skip
    outputs = [
        OutputFile("video", video, "video/mp4", media),
        OutputFile("thumbnail", described["thumbnail"], "image/jpeg"),
        OutputFile("metadata", described["metadata"], "application/json"),
        OutputFile("script", work_dir / "script.txt", "text/plain"),
        OutputFile("subtitles", ass_path, "text/x-ssa"),
        OutputFile("subtitles", srt_path, "application/x-subrip"),
        OutputFile("voice", track.path, "audio/wav", {"engine": track.engine}),
        OutputFile("qa", checked.write(work_dir / "qa.json"), "application/json"),
        OutputFile("footage", footage.write_credits(picks, work_dir / "footage.json"),
                   "application/json"),
    ]  # fmt: skip
    return PipelineResult(
        video=video, duration_s=track.duration_s, outputs=outputs, qa_passed=checked.passed,
        clips=[pick.chosen.candidate.key for pick in picks if pick.chosen is not None],
    )  # fmt: skip


def plan_storyboard(
    spec: VideoSpec, work_dir: Path, *, options: PipelineOptions, report: Report,
    recent_clips: frozenset[str] = frozenset(), stages: StageStore = StageStore(None),
) -> tuple[Storyboard, list[OutputFile]]:  # fmt: skip
    """The planning stages of `spec` (script, voice, footage choice): the storyboard a person
    reviews before the render, and the files to show beside it (the voice, the script)."""
    plan = _plan(
        spec, work_dir, options=options, report=_Progress(report), recent_clips=recent_clips,
        stages=stages,
    )  # fmt: skip
    clips: dict[str, StoryClip] = {}
    story_scenes = []
    for scene, pick in zip(plan.scenes, plan.picks, strict=True):
        chosen = pick.chosen.candidate if pick.chosen is not None else None
        for candidate in (chosen, *pick.alternatives):
            if candidate is not None:
                clips.setdefault(candidate.key, story_clip(candidate))
        story_scenes.append(
            StoryScene(
                text=pick.scene.text, term=pick.scene.term, start_s=round(scene.start_s, 3),
                end_s=round(scene.end_s, 3), clip=chosen.key if chosen else None,
                candidates=[candidate.key for candidate in pick.alternatives],
                paragraph_end=scene.end > 0 and plan.paragraph_ends[scene.end - 1],
            )
        )  # fmt: skip
    storyboard = Storyboard(scenes=story_scenes, clips=clips)
    report(ProgressEvent("review", START["render"], f"{len(story_scenes)} scene(s) planned."))
    files = [
        OutputFile("voice", plan.track.path, "audio/wav", {"engine": plan.track.engine}),
        OutputFile("script", work_dir / "script.txt", "text/plain"),
    ]
    return storyboard, files


def story_clip(candidate: Candidate) -> StoryClip:
    return StoryClip(
        source=candidate.source, id=candidate.clip_id, description=candidate.description,
        duration_s=candidate.duration_s, width_px=candidate.width_px,
        height_px=candidate.height_px, page_url=candidate.page_url, author=candidate.author,
        thumbnail_url=candidate.thumbnail_url, preview_url=candidate.preview_url,
        download_url=candidate.download_url,
    )  # fmt: skip


def candidate_of(clip: StoryClip) -> Candidate:
    return Candidate(
        clip.source, clip.id, clip.description, clip.duration_s, clip.width_px, clip.height_px,
        clip.page_url, clip.author, clip.thumbnail_url, clip.preview_url, clip.download_url,
    )  # fmt: skip


def _plan(
    spec: VideoSpec, work_dir: Path, *, options: PipelineOptions, report: _Progress,
    recent_clips: frozenset[str], stages: StageStore, storyboard: Storyboard | None = None,
    uploads_dir: Path | None = None,
) -> Plan:  # fmt: skip
    """Script, voice, scenes and footage: from the LLM and the sources, or from a storyboard."""
    work_dir.mkdir(parents=True, exist_ok=True)
    configured = llm_from_options(options.llm)
    if storyboard is None:
        # The script stage asks the LLM itself: without a script the job cannot go on, so a
        # failure there ends it. The later stages fall back to offline text when the LLM fails.
        text = _script(
            spec, work_dir, llm=configured, options=options, stages=stages, report=report
        )
        sentences, ends = script.split_sentences(text), script.paragraph_ends(text)
    else:
        text = storyboard.script()
        (work_dir / "script.txt").write_text(text + "\n", encoding="utf-8")
        report(ProgressEvent("script", START["script"], "Using the reviewed storyboard."))
        sentences, ends, counts = [], [], []
        for scene in storyboard.scenes:
            said = script.split_sentences(scene.text)
            sentences += said
            ends += [*script.paragraph_ends(scene.text)[:-1], scene.paragraph_end]
            counts.append(len(said))
    llm = _ReportingLLM(configured, report) if configured is not None else None
    track = _voice(
        spec, sentences, work_dir, paragraph_ends=ends, options=options, stages=stages,
        report=report,
    )  # fmt: skip
    if storyboard is None:
        groups = scenes.group_sentences(
            track.sentences, duration_s=track.duration_s, scene_s=spec.clip_duration
        )
    else:
        starts = list(itertools.accumulate(counts, initial=0))
        groups = list(itertools.pairwise(starts))
    planned = scenes.timed_scenes(track.sentences, groups, duration_s=track.duration_s)
    texts = [_joined(sentences[plan.first : plan.end], ends[plan.first : plan.end])
             for plan in planned]  # fmt: skip
    size_px = frame_size_px(spec.aspect, spec.quality)
    if storyboard is None:
        picks = _footage(
            spec, texts, planned, work_dir, size_px=size_px, llm=llm, recent=recent_clips,
            options=options, stages=stages, report=report,
        )  # fmt: skip
    else:
        picks = _chosen_footage(
            spec, storyboard, texts, planned, work_dir, size_px=size_px, options=options,
            stages=stages, report=report, uploads_dir=uploads_dir,
        )  # fmt: skip
    return Plan(text, track, planned, picks, ends, size_px, llm)


def _joined(sentences: list[str], ends: list[bool]) -> str:
    """Sentences as one text, a blank line where a paragraph ends inside it."""
    return "".join(
        sentence + ("\n\n" if end else " ") for sentence, end in zip(sentences, ends, strict=True)
    ).strip()


class _Progress:
    """The caller's report, remembering where the job is, so a warning from anywhere can be
    reported without moving the progress bar."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.last = ProgressEvent("script", 0.0)

    def __call__(self, event: ProgressEvent) -> None:
        self.last = event
        self.report(event)

    def warn(self, message: str) -> None:
        self.report(ProgressEvent(self.last.stage, self.last.progress, message, "warning"))


class _ReportingLLM:
    """The configured LLM, asked until it first fails: the failure becomes one warning event, and
    later stages go straight to their offline fallbacks instead of waiting on it again."""

    def __init__(self, llm: LLM, report: _Progress) -> None:
        self.llm = llm
        self.name = llm.name
        self.report = report
        self.failure: ProviderError | None = None

    def chat(self, messages: list[dict[str, str]], **options: Any) -> str:
        if self.failure is not None:
            raise self.failure
        try:
            return self.llm.chat(messages, **options)
        except ProviderError as exc:
            self.failure = exc
            self.report.warn(f"{exc.message} (using offline fallbacks)")
            raise


def _script(
    spec: VideoSpec, work_dir: Path, *, llm: LLM | None, options: PipelineOptions,
    stages: StageStore, report: _Progress,
) -> str:  # fmt: skip
    key = cache_key(spec.model_dump(mode="json"), _llm_key(options), options.max_script_words)
    path = work_dir / "script.txt"
    if _kept(stages, "script", key, work_dir, report) is not None:
        return path.read_text(encoding="utf-8").rstrip("\n")
    if spec.script:
        report(ProgressEvent("script", START["script"], "Using the script from the request."))
    else:
        name = llm.name if llm is not None else "no LLM"
        report(ProgressEvent("script", START["script"], f"Writing the script with {name}."))
    text = script.write_script(spec, llm=llm, max_words=options.max_script_words, warn=report.warn)
    path.write_text(text + "\n", encoding="utf-8")
    stages.save("script", key, {}, work_dir=work_dir, files=(path,))
    return text


def _llm_key(options: PipelineOptions) -> dict[str, Any]:
    """Which LLM writes: its answers are part of a stage's inputs."""
    return options.llm.model_dump(exclude={"api_key", "timeout_s"})


def _kept(
    stages: StageStore, stage: str, key: str, work_dir: Path, report: Report
) -> dict[str, Any] | None:
    """The stage's record from an earlier attempt with the same inputs (reported), if any."""
    kept = stages.load(stage, key, work_dir)
    if kept is not None:
        report(ProgressEvent(stage, START[stage], KEPT.format(stage)))
    return kept


def _clip_version(path: Path, work_dir: Path) -> tuple[int, int]:
    """A clip's size, and for a file of the media folder its modification time (one replaced
    under the same name differs). A download's is left out: its name already says the site,
    clip and size, and the cache touches its mtime at each use (a hard link shares it)."""
    stat = path.stat()
    return stat.st_size, 0 if path.is_relative_to(work_dir) else stat.st_mtime_ns


def _voice(
    spec: VideoSpec,
    sentences: list[str],
    work_dir: Path,
    *,
    paragraph_ends: list[bool],
    options: PipelineOptions,
    stages: StageStore,
    report: _Progress,
) -> voice.VoiceTrack:
    report(ProgressEvent("voice", START["voice"], f"Speaking {len(sentences)} sentence(s)."))
    span = START["terms"] - START["voice"]
    choice = tts.choose_voice(spec.voice, options.voice, language=spec.language)
    engine = tts.engine_for(
        options.voice, language=spec.language, voice=choice.voice, warn=report.warn
    )
    key = cache_key(
        voice.CACHE_VERSION, engine.identity, choice.voice, spec.language, sentences,
        paragraph_ends,
    )  # fmt: skip
    kept = _kept(stages, "voice", key, work_dir, report)
    if kept is not None:
        track = voice.track_from_record(kept, work_dir=work_dir)
    else:
        track = voice.synthesize_voice(
            sentences,
            work_dir,
            language=spec.language,
            voice=choice.voice,
            options=options.voice,
            ffmpeg_exe=options.ffmpeg_exe,
            on_progress=lambda done: report(ProgressEvent("voice", START["voice"] + span * done)),
            engine=engine,
            paragraph_ends=paragraph_ends,
            cache=options.cache(),
        )
        record = voice.track_record(track, work_dir=work_dir)
        stages.save("voice", key, record, work_dir=work_dir, files=(track.path,))
    if choice.replaced:
        report.warn(f"{choice.replaced}: spoken by {track.engine} instead.")
    reused = (
        f" ({track.reused} of {len(sentences)} sentences spoken before)" if track.reused else ""
    )
    message = f"Voice: {track.engine}, {track.duration_s:.1f} s{reused}."
    report(ProgressEvent("voice", START["terms"], message))
    return track


def _footage(
    spec: VideoSpec,
    texts: list[str],
    planned: list[scenes.ScenePlan],
    work_dir: Path,
    *,
    size_px: tuple[int, int],
    llm: LLM | None,
    recent: frozenset[str],
    options: PipelineOptions,
    stages: StageStore,
    report: Report,
) -> list[footage.Pick]:
    footage_options = options.footage
    keys = [bool(footage_options.pexels_api_key), bool(footage_options.pixabay_api_key)]
    lengths_s = [round(plan.length_s, 3) for plan in planned]
    key = cache_key(
        spec.model_dump(mode="json"), texts, lengths_s, _llm_key(options),
        _footage_settings(options) | {"keys": keys},
    )  # fmt: skip
    kept = _kept_picks(stages, key, work_dir, report, recent=recent)
    if kept is not None:
        return kept
    report(ProgressEvent("terms", START["terms"], f"Choosing footage for {len(texts)} scene(s)."))
    search = terms.search_terms(texts, subject=spec.video_subject, llm=llm)
    report(ProgressEvent("footage", START["footage"], f"Finding footage ({spec.footage_source})."))
    failures: list[str] = []

    def log(level: str, message: str) -> None:
        report(ProgressEvent("footage", START["footage"], message, level))

    picks = footage.gather_footage(
        [
            Scene(index, term, length_s, text)
            for index, (term, length_s, text) in enumerate(
                zip(search, lengths_s, texts, strict=True)
            )
        ],
        source=spec.footage_source,
        options=options.footage,
        ffmpeg_exe=options.ffmpeg_exe,
        width_px=size_px[0],
        height_px=size_px[1],
        work_dir=work_dir,
        subject=spec.video_subject,
        recent=recent,
        report=log,
        cache=options.cache(),
        failures=failures,
    )
    if failures:  # backgrounds or other clips stood in: the next attempt asks the sources again
        return picks
    _keep_footage(stages, key, picks, work_dir)
    return picks


def _chosen_footage(
    spec: VideoSpec,
    storyboard: Storyboard,
    texts: list[str],
    planned: list[scenes.ScenePlan],
    work_dir: Path,
    *,
    size_px: tuple[int, int],
    options: PipelineOptions,
    stages: StageStore,
    report: Report,
    uploads_dir: Path | None,
) -> list[footage.Pick]:
    """The clips the reviewed storyboard names, fetched (or taken from the cache)."""
    chosen = [
        None if scene.clip is None else storyboard.clips[scene.clip] for scene in storyboard.scenes
    ]
    lengths_s = [round(plan.length_s, 3) for plan in planned]
    key = cache_key(
        spec.model_dump(mode="json"), texts, lengths_s, _footage_settings(options),
        [None if clip is None else clip.model_dump(mode="json") for clip in chosen],
    )  # fmt: skip
    kept = _kept_picks(stages, key, work_dir, report)
    if kept is not None:
        return kept
    report(ProgressEvent("footage", START["footage"], "Fetching the storyboard's clips."))

    def log(level: str, message: str) -> None:
        report(ProgressEvent("footage", START["footage"], message, level))

    picks = footage.fetch_chosen(
        [
            Scene(index, scene.term, length_s, text)
            for index, (scene, length_s, text) in enumerate(
                zip(storyboard.scenes, lengths_s, texts, strict=True)
            )
        ],
        [None if clip is None else candidate_of(clip) for clip in chosen],
        options=options.footage,
        ffmpeg_exe=options.ffmpeg_exe,
        width_px=size_px[0],
        height_px=size_px[1],
        work_dir=work_dir,
        subject=spec.video_subject,
        report=log,
        cache=options.cache(),
        uploads_dir=uploads_dir,
    )
    _keep_footage(stages, key, picks, work_dir)
    return picks


def _footage_settings(options: PipelineOptions) -> dict[str, Any]:
    """The footage settings a choice depends on. Not the keys, nor the media folder's path
    (another host's differs: a kept pick whose file is not there is not used)."""
    return options.footage.model_dump(
        mode="json", exclude={"pexels_api_key", "pixabay_api_key", "media_dir"}
    )


def _kept_picks(
    stages: StageStore, key: str, work_dir: Path, report: Report,
    recent: frozenset[str] = frozenset(),
) -> list[footage.Pick] | None:  # fmt: skip
    """An earlier attempt's footage choice with the same inputs, its files back in place; None
    when there is none, a file of it (a local one) has gone since, or a video that finished
    meanwhile used one of its clips (`recent`)."""
    kept = stages.load("footage", key, work_dir)
    if kept is None:
        return None
    restored = [footage.pick_from_record(r, work_dir=work_dir) for r in kept["picks"]]
    picks = [pick for pick in restored if pick is not None]
    used = {pick.chosen.candidate.key for pick in picks if pick.chosen is not None}
    if len(picks) != len(restored) or used & recent:
        return None
    report(ProgressEvent("footage", START["footage"], KEPT.format("footage")))
    return picks


def _keep_footage(stages: StageStore, key: str, picks: list[footage.Pick], work_dir: Path) -> None:
    records = [footage.pick_record(pick, work_dir=work_dir) for pick in picks]
    downloaded = [pick.clip.path for pick in picks if pick.clip.path is not None]
    stages.save(
        "footage", key, {"picks": records}, work_dir=work_dir,
        files=tuple(path for path in downloaded if path.is_relative_to(work_dir)),
    )  # fmt: skip


def _subtitles(
    spec: VideoSpec,
    track: voice.VoiceTrack,
    work_dir: Path,
    *,
    size_px: tuple[int, int],
    options: PipelineOptions,
    report: Report,
) -> tuple[Path, Path]:
    report(ProgressEvent("subtitles", START["subtitles"], "Timing the subtitles to the voice."))
    width_px, height_px = size_px
    style = subtitles.SubtitleStyle(
        width_px=width_px,
        height_px=height_px,
        font_name=options.font_name,
        font_size_px=subtitles.scaled_font_size_px(
            spec.font_size, width_px=width_px, height_px=height_px
        ),
        color=spec.color,
        position=spec.subtitles_position,
        word_highlight=spec.word_highlight,
    )
    cues = subtitles.split_cues(
        track.sentences,
        max_words=subtitles.MAX_CUE_WORDS[spec.aspect],
        style=style,
        duration_s=track.duration_s,
    )
    ass_path, srt_path = work_dir / "subtitles.ass", work_dir / "subtitles.srt"
    subtitles.write_ass(cues, ass_path, style=style)
    subtitles.write_srt(cues, srt_path)
    return ass_path, srt_path


def _render(
    spec: VideoSpec,
    plan: Plan,
    ass_path: Path,
    song: Path | None,
    work_dir: Path,
    *,
    options: PipelineOptions,
    stages: StageStore,
    report: Report,
) -> tuple[Path, str]:
    """The video, and the key of what made it (which names it for the stages after)."""
    picks, track = plan.picks, plan.track
    lengths_s = [scene.length_s for scene in plan.scenes]
    key = cache_key(
        spec.model_dump(mode="json"),
        [footage.pick_record(pick, work_dir=work_dir) for pick in picks],
        [_clip_version(pick.clip.path, work_dir) for pick in picks if pick.clip.path],
        [sha256_file(path) for path in (track.path, ass_path)],
        None if song is None else [song.name, sha256_file(song)],
        options.fonts_dir,
        lengths_s,
    )
    if _kept(stages, "render", key, work_dir, report) is not None:
        return work_dir / render.VIDEO_NAME, key
    encode = render.plan_render(
        aspect=spec.aspect,
        quality=spec.quality,
        duration_s=track.duration_s,
        clips=[pick.clip for pick in picks],
        scene_lengths_s=lengths_s,
        voice=track.path,
        subtitles=ass_path,
        music=song,
        music_volume=spec.music_volume,
        fonts_dir=options.fonts_dir,
        threads=spec.threads,
    )
    report(
        ProgressEvent(
            "render",
            START["render"],
            f"Rendering {encode.width_px}×{encode.height_px}, {track.duration_s:.1f} s "
            f"({spec.quality}).",
        )
    )
    span = START["metadata"] - START["render"]
    video = render.render_video(
        encode,
        work_dir,
        ffmpeg_exe=options.ffmpeg_exe,
        on_progress=lambda done: report(ProgressEvent("render", START["render"] + span * done)),
    )
    # The frames the render noted spare the check a decode of the whole video.
    noted = work_dir / qa.FRAME_LOG
    stages.save(
        "render", key, {}, work_dir=work_dir,
        files=(video, noted) if noted.is_file() else (video,),
    )  # fmt: skip
    return video, key


def _metadata(
    spec: VideoSpec,
    text: str,
    video: Path,
    work_dir: Path,
    *,
    render_key: str,
    llm: LLM | None,
    options: PipelineOptions,
    stages: StageStore,
    report: Report,
) -> dict[str, Path]:
    described = {"thumbnail": work_dir / "thumbnail.jpg", "metadata": work_dir / "metadata.json"}
    # The render's key names the video: no need to read it whole again.
    key = cache_key(spec.model_dump(mode="json"), text, _llm_key(options), render_key)
    if _kept(stages, "metadata", key, work_dir, report) is not None:
        return described
    report(ProgressEvent("metadata", START["metadata"], "Writing the title, description, tags."))
    found = metadata.describe(text, subject=spec.video_subject, language=spec.language, llm=llm)
    metadata.make_thumbnail(
        video,
        described["thumbnail"],
        title=found.title,
        at_s=THUMBNAIL_AT_S,
        ffmpeg_exe=options.ffmpeg_exe,
        font_path=None,
    )
    metadata.write_metadata(
        described["metadata"],
        found,
        extra={"subject": spec.video_subject, "language": spec.language, "aspect": spec.aspect},
    )
    stages.save("metadata", key, {}, work_dir=work_dir, files=tuple(described.values()))
    return described


def _check(
    video: Path, expected: qa.Expected, work_dir: Path, *, options: PipelineOptions, report: Report
) -> qa.Report:
    report(ProgressEvent("qa", START["qa"], "Checking the video."))
    checked = qa.inspect_video(
        video, expected, ffmpeg_exe=options.ffmpeg_exe, frame_log=work_dir / qa.FRAME_LOG
    )
    for check in checked.failed:
        report(ProgressEvent("qa", START["qa"], f"Check failed: {check.describe()}.", "warning"))
    if checked.passed:
        report(ProgressEvent("qa", START["qa"], f"All {len(checked.checks)} checks passed."))
    return checked
