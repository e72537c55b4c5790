"""`moneyprinter generate --batch FILE.csv`: a spreadsheet of videos queued as one batch,
followed until every job has ended, and the finished videos saved in a folder."""

from __future__ import annotations

import csv
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.client.api import MoneyPrinterClient

POLL_INTERVAL_S = 1.0
# Friendlier column names for a spreadsheet; any other is the API's own name (or its snake_case).
COLUMN_ALIASES = {
    "subject": "videoSubject",
    "prompt": "customPrompt",
    "paragraphs": "paragraphNumber",
}
SLUG_CHARS = 40
STATES = ("queued", "running", "awaiting_review", "completed", "failed", "cancelled")


class BatchFileError(Exception):
    """The file cannot be read as a batch; the message names the file and the row."""


@dataclass(frozen=True)
class BatchFile:
    """The entries of a batch file, and the file's line of each (for messages)."""

    name: str
    entries: list[dict[str, str]]
    lines: list[int]

    def locate(self, message: str) -> str:
        """A server message about `jobs[N]`, led by the file's line of that entry."""
        found = re.match(r"jobs\[(\d+)\]", message)
        if found is None or int(found.group(1)) >= len(self.lines):
            return message
        return f"{self.name}, line {self.lines[int(found.group(1))]}: {message}"


def read_batch_file(stream: IO[str], *, name: str) -> BatchFile:
    """The rows of a CSV file with a header row; each column a field of a video by its API name
    (`videoSubject`, `script`, `voice`…, or snake_case, or `subject`), each row one video. Empty
    cells are left out (the shared options or the server's defaults apply); blank rows are
    skipped. A row is known by the line it starts on."""
    reader = csv.reader(stream)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BatchFileError(f"{name}, line {reader.line_num}: {exc}") from None
    if not rows:
        raise BatchFileError(f"{name} is empty: it needs a header row, then one row per video")
    (header_line, header), *videos = rows
    columns = [_column(title) for title in header]
    if "" in columns:
        raise BatchFileError(f"{name}, line {header_line}: a column has no name")
    twice = sorted({column for column in columns if columns.count(column) > 1})
    if twice:
        raise BatchFileError(f"{name}, line {header_line}: two columns name {twice[0]}")
    entries, lines = [], []
    for line, row in videos:
        if len(row) > len(columns):
            raise BatchFileError(f"{name}, line {line}: more cells than columns")
        cells = zip(columns, (cell.strip() for cell in row), strict=False)  # short rows: fine
        entries.append({column: cell for column, cell in cells if cell})
        lines.append(line)
    if not entries:
        raise BatchFileError(f"{name} has a header but no videos")
    return BatchFile(name, entries, lines)


def _column(title: str) -> str:
    title = title.strip().lstrip("\ufeff")  # a spreadsheet's byte-order mark
    if title.lower() in COLUMN_ALIASES:
        return COLUMN_ALIASES[title.lower()]
    head, *rest = title.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def follow_batch(
    client: MoneyPrinterClient, batch_id: str, *, out: IO[str] = sys.stderr,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:  # fmt: skip
    """Poll the batch until no job is queued or running (each has ended, or awaits review),
    printing a line whenever its counts change; the last `GET /api/batches/{id}` answer."""
    shown = ""
    while True:
        body = client.get_batch(batch_id)
        batch = body["batch"]
        line = describe(batch)
        if line != shown:
            print(line, file=out, flush=True)
            shown = line
        if batch["state"] != "running":
            return body
        sleep(POLL_INTERVAL_S)


def describe(batch: dict[str, Any]) -> str:
    counts = batch["counts"]
    ended = sum(counts.get(state, 0) for state in ("completed", "failed", "cancelled"))
    parts = [f"{counts[state]} {state}" for state in STATES if counts.get(state)]
    return (
        f"Batch {batch['id']}: {ended} of {batch['total']} ended ({', '.join(parts)}), "
        f"{batch['progress']:.0%} done"
    )


def video_name(index: int, subject: str) -> str:
    """`03-why-octopuses-are-smart.mp4`: the entry's place and its subject, safe for any disk."""
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")[:SLUG_CHARS].strip("-")
    return f"{index + 1:02d}-{slug or 'video'}.mp4"


def save_videos(client: MoneyPrinterClient, jobs: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Download each completed job's video into `folder`; the paths, in the batch's order."""
    saved = []
    for index, job in enumerate(jobs):
        if job["state"] != "completed":
            continue
        path = folder / video_name(index, str(job.get("videoSubject") or ""))
        client.download_video(job["id"], path)
        saved.append(path)
    return saved


def ended_badly(jobs: list[dict[str, Any]], *, fine: tuple[str, ...] = ("completed",)) -> list[str]:
    """A line per job not in a `fine` state: its place, subject, state and error."""
    return [
        f"  {index + 1:2d}. {job.get('videoSubject') or job['id']}: {job['state']}"
        + (f": {job['errorMessage']}" if job.get("errorMessage") else "")
        for index, job in enumerate(jobs)
        if job["state"] not in fine
    ]
