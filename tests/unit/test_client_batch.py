"""Reading a batch file for `moneyprinter generate --batch` (app/client/batch.py)."""

from __future__ import annotations

import io

import pytest

from app.client.batch import BatchFileError, describe, read_batch_file, video_name


def read(text: str) -> tuple[list[dict[str, str]], list[int]]:
    batch = read_batch_file(io.StringIO(text), name="b.csv")
    return batch.entries, batch.lines


def test_columns_are_api_names_snake_case_or_friendly_and_empty_cells_are_left_out() -> None:
    entries, lines = read(
        "\ufeffSubject, script ,target_seconds,footageSource\n"
        'Octopuses,"Eight arms, three hearts.",30,\n'
        "\n"
        "Whales,,,generated\n"
    )

    assert entries == [
        {"videoSubject": "Octopuses", "script": "Eight arms, three hearts.", "targetSeconds": "30"},
        {"videoSubject": "Whales", "footageSource": "generated"},
    ]
    assert lines == [2, 4]  # the blank line is skipped, not counted as a video


def test_a_multi_line_script_is_one_row_and_the_next_keeps_its_line() -> None:
    entries, lines = read('subject,script\nA,"One.\n\nTwo."\nB,Three.\n')
    assert entries[0]["script"] == "One.\n\nTwo." and lines == [2, 5]


def test_blank_lines_before_the_header_are_skipped() -> None:
    assert read("\n\nsubject\nOctopuses\n") == ([{"videoSubject": "Octopuses"}], [4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "b.csv is empty: it needs a header row, then one row per video"),
        ("subject,script\n", "b.csv has a header but no videos"),
        ("subject,\nA,B\n", "b.csv, line 1: a column has no name"),
        ("subject\nA,B\n", "b.csv, line 2: more cells than columns"),
        ("subject,videoSubject\nA,B\n", "b.csv, line 1: two columns name videoSubject"),
    ],
)
def test_a_file_that_is_no_batch_is_named_by_its_line(text: str, message: str) -> None:
    with pytest.raises(BatchFileError) as raised:
        read(text)
    assert str(raised.value) == message


def test_a_server_message_about_an_entry_is_led_by_its_line() -> None:
    batch = read_batch_file(io.StringIO("subject\nA\n\nB\n"), name="b.csv")
    assert batch.locate("jobs[1].voice: bad") == "b.csv, line 4: jobs[1].voice: bad"
    assert batch.locate("The queue is full.") == "The queue is full."


def test_video_names_keep_the_batch_order_and_a_safe_subject() -> None:
    assert video_name(2, "Why Octopuses are SMART?!") == "03-why-octopuses-are-smart.mp4"
    assert video_name(9, "../../etc") == "10-etc.mp4"
    assert video_name(0, "日本") == "01-video.mp4"


def test_progress_lines_count_what_has_ended() -> None:
    batch = {
        "id": "b1", "total": 4, "progress": 0.625,
        "counts": {"completed": 2, "running": 1, "queued": 1},
    }  # fmt: skip
    assert describe(batch) == "Batch b1: 2 of 4 ended (1 queued, 1 running, 2 completed), 62% done"
