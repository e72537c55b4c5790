"""The row a queued job starts as."""

from __future__ import annotations

import pytest

from app.db.statements import ENQUEUED_COLUMNS, new_job_row


@pytest.mark.parametrize("kind", ["video", "noop"])
def test_a_new_row_sets_every_enqueued_column(kind: str) -> None:
    row = new_job_row(payload={"videoSubject": "tides"}, kind=kind)

    assert tuple(row) == ENQUEUED_COLUMNS
    assert row["kind"] == kind and row["status"] == "queued"
