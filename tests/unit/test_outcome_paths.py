"""A failed child's message as the job shows it (worker/runner.py `Outcome.failure`): paths in
the job's folder relative to it, so the public errorMessage tells nothing of the host's layout."""

from __future__ import annotations

from pathlib import Path

from worker.runner import ChildExit, Outcome


def test_a_reported_error_names_files_relative_to_the_jobs_folder(tmp_path: Path) -> None:
    work_dir = tmp_path / "data" / "jobs" / "0b7c" / "1"
    error = {"message": f"espeak-ng wrote no audio to {work_dir}/voice/0003.wav", "stage": "voice"}

    message, details = Outcome(work_dir, exit=ChildExit(1, ""), error=error).failure()

    assert message == "espeak-ng wrote no audio to voice/0003.wav"
    assert details == {"retryable": True, "exitCode": 1, "stage": "voice"}


def test_a_crash_names_files_relative_to_the_jobs_folder(tmp_path: Path) -> None:
    work_dir = tmp_path / "jobs" / "0b7c" / "1"
    stderr = (
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/venv/worker/child.py", line 42, in main\n'
        f"FileNotFoundError: [Errno 2] No such file or directory: '{work_dir}/subtitles.ass'"
    )

    message, _ = Outcome(work_dir, exit=ChildExit(1, stderr)).failure()

    assert message.endswith("No such file or directory: 'subtitles.ass'")
    assert str(work_dir) not in message
