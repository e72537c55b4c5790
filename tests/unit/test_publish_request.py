"""What a publish sends YouTube: the video resource from the request and the metadata, and when
a used-up quota is tried again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from app.crypto import SecretBox, SecretKeyError, new_key
from app.domain import PublishOptions, youtube_tags_length
from worker.cli import main
from worker.publish import next_quota_reset, video_resource

METADATA = {"title": "Octopuses <3 hearts", "description": "Facts > fiction.", "tags": ["ocean"]}


def test_the_metadata_fills_what_the_request_leaves_out() -> None:
    resource = video_resource(PublishOptions(), METADATA)
    assert resource["snippet"] == {
        "title": "Octopuses 3 hearts",  # YouTube refuses < and >
        "description": "Facts  fiction.",
        "tags": ["ocean"],
        "categoryId": "28",
    }
    assert resource["status"] == {
        "privacyStatus": "private",
        "selfDeclaredMadeForKids": False,
        "containsSyntheticMedia": True,
    }


def test_an_llms_tags_are_cut_to_what_youtube_takes_and_a_blank_title_replaced() -> None:
    tags = [f"tag number {n}" for n in range(60)]  # 14 characters, quoted: 16 each
    resource = video_resource(PublishOptions(), {"title": " <> ", "tags": tags})
    kept = resource["snippet"]["tags"]
    assert kept == tags[: len(kept)]
    assert youtube_tags_length(kept) <= 500 < youtube_tags_length(tags[: len(kept) + 1])
    assert resource["snippet"]["title"] == "MoneyPrinter video"


def test_the_request_wins_and_a_schedule_is_sent_in_utc() -> None:
    options = PublishOptions.model_validate(
        {
            "title": "Mine",
            "tags": [],
            "categoryId": "22",
            "madeForKids": True,
            "syntheticMedia": False,
            "publishAt": "2099-01-01T10:00:00+01:00",
        }
    )
    resource = video_resource(options, METADATA)
    assert resource["snippet"]["title"] == "Mine"
    assert resource["snippet"]["tags"] == []
    assert resource["status"]["publishAt"] == "2099-01-01T09:00:00Z"
    assert resource["status"]["selfDeclaredMadeForKids"] is True
    assert resource["status"]["containsSyntheticMedia"] is False


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"title": "a <b>"}, "refuses < and >"),
        ({"tags": ["x" * 300, "y" * 201]}, "at most 500 characters"),
        ({"publishAt": "2099-01-01T00:00:00"}, "give a time zone"),
        ({"privacy": "unlisted", "publishAt": "2099-01-01T00:00:00Z"}, "only a private video"),
        ({"playlist": "PL1"}, "Extra inputs are not permitted"),
    ],
)
def test_what_youtube_would_refuse_is_refused_first(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        PublishOptions.model_validate(options)


def test_tags_are_counted_as_youtube_counts_them() -> None:
    assert youtube_tags_length(["a b", "c"]) == len('"a b",c')


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-12-06T10:00:00Z", "2026-12-07T08:01:00Z"),  # winter: UTC-8
        ("2026-07-01T06:59:00Z", "2026-07-01T07:01:00Z"),  # summer: UTC-7, a minute before
        ("2026-03-08T12:00:00Z", "2026-03-09T07:01:00Z"),  # the day clocks go forward
    ],
)
def test_a_used_up_quota_is_tried_again_after_midnight_in_california(now: str, reset: str) -> None:
    at = datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert next_quota_reset(at) == datetime.fromisoformat(reset.replace("Z", "+00:00"))
    assert next_quota_reset(at).tzinfo == UTC


def test_the_cli_prints_a_secret_key_that_seals_and_opens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["youtube", "key"]) == 0
    box = SecretBox(capsys.readouterr().out.strip())
    assert box.open(box.seal("1//refresh")) == "1//refresh"
    with pytest.raises(SecretKeyError, match="not the key"):
        SecretBox(new_key()).open(box.seal("1//refresh"))


def test_a_past_schedule_is_refused_where_the_request_arrives_not_when_it_is_read_again() -> None:
    past = PublishOptions.model_validate({"publishAt": "2001-01-01T00:00:00Z"})
    assert past.schedule_problem() == "publishAt: must be in the future"
    assert PublishOptions().schedule_problem() is None
