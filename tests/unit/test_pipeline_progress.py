"""How the child's progress lines become events, and how a child's end becomes a failure."""

from __future__ import annotations

from pathlib import Path

from app.domain import EventLevel, EventType
from worker.runner import ChildExit, Outcome, ProgressThrottle


def line(stage: str, progress: float, message: str | None = None) -> dict[str, object]:
    return {"type": "progress", "stage": stage, "progress": progress, "message": message}


def test_stage_changes_and_messages_always_pass_bare_progress_is_throttled() -> None:
    throttle = ProgressThrottle()

    stage = throttle.update_for(line("render", 0.17, "Rendering."), now_s=10.0)
    small_step_soon = throttle.update_for(line("render", 0.19), now_s=10.1)
    big_step_soon = throttle.update_for(line("render", 0.25), now_s=10.2)
    small_step_later = throttle.update_for(line("render", 0.26), now_s=10.8)
    message = throttle.update_for(line("render", 0.26, "Half way."), now_s=10.81)
    backwards = throttle.update_for(line("render", 0.1), now_s=20.0)

    assert stage is not None and stage.event_type == EventType.STAGE
    assert stage.message == "Rendering."
    assert small_step_soon is None
    assert big_step_soon is not None and big_step_soon.event_type == EventType.PROGRESS
    assert big_step_soon.message == "render: 25%"
    assert small_step_later is not None and small_step_later.progress == 0.26
    assert message is not None and message.event_type == EventType.LOG
    assert backwards is None


def test_a_warning_message_keeps_its_level() -> None:
    throttle = ProgressThrottle(stage="voice")

    update = throttle.update_for(
        {"stage": "voice", "progress": 0.02, "message": "silent", "level": "warning"}, now_s=0.0
    )

    assert update is not None and update.level == EventLevel.WARNING


def test_an_error_line_gives_its_message_and_whether_to_retry() -> None:
    outcome = Outcome(
        Path("."),
        exit=ChildExit(1, ""),
        error={"message": "No script.", "retryable": False, "stage": "script"},
    )

    assert outcome.failure() == (
        "No script.",
        {"retryable": False, "stage": "script", "exitCode": 1},
    )


def test_a_crash_names_the_signal_and_the_last_lines_of_stderr() -> None:
    tail = "Traceback (most recent call last):\n  ...\nMemoryError"
    outcome = Outcome(Path("."), exit=ChildExit(-9, tail))

    message, details = outcome.failure()

    assert message == "The pipeline process crashed (killed by signal SIGKILL): ... / MemoryError"
    assert details == {"retryable": True, "exitCode": -9}


def test_outputs_outside_the_work_folder_are_ignored(tmp_path: Path) -> None:
    work_dir = tmp_path / "jobs" / "abc" / "1"
    work_dir.mkdir(parents=True)
    (work_dir / "video.mp4").write_bytes(b"x")
    (tmp_path / "secret").write_bytes(b"x")
    output = {"bytes": 1, "sha256": "0" * 64, "mime": "video/mp4"}
    outcome = Outcome(
        work_dir,
        exit=ChildExit(0, ""),
        result={
            "video": "video.mp4",
            "outputs": [
                {**output, "kind": "video", "path": "video.mp4"},
                {**output, "kind": "script", "path": "../../../secret"},
                {**output, "kind": "voice", "path": "missing.wav"},
            ],
        },
    )

    artifacts = outcome.artifacts(tmp_path)

    assert [a["path"] for a in artifacts] == ["jobs/abc/1/video.mp4"]
    assert outcome.video() == (work_dir / "video.mp4").resolve()
