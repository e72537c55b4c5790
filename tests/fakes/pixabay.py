"""A Pixabay server as its API documents it: `GET /api/videos/?key=…&q=…`, answering
`hits[].videos.{large,medium,small,tiny}` whose urls point back at this server's `/files/`."""

from __future__ import annotations

from typing import Any

from tests.fakes import pexels
from tests.fakes.pexels import FakeVideo, MediaFile, MediaHandler

SIZE_NAMES = ("large", "medium", "small", "tiny")


class PixabayHandler(MediaHandler):
    def search(self, path: str, query: dict[str, str]) -> None:
        if path != "/api/videos/":
            self.reply_json(404, {"error": "Not Found"})
        elif self.failure == "401":
            self.reply_json(401, {"error": "Unauthorized"})
        elif query.get("key") != self.api_key:
            # What Pixabay really answers for a wrong key: a 400 with a plain-text reason.
            self._reply_text(400, "[ERROR 400] Invalid or missing API key.")
        elif self.fail_once("429-once"):
            self.reply_json(429, {"error": "Too Many Requests"}, {"Retry-After": "0"})
        elif self.failure == "500":
            self.reply_json(500, {"error": "Internal Server Error"})
        else:
            found = [] if self.failure == "empty" else self.videos
            if "id" in query:  # one video by its id (Pixabay ignores `q` then)
                found = [video for video in found if str(video.video_id) == query["id"]]
            found = found[: int(query.get("per_page", "20"))]
            hits = [self._hit(video) for video in found]
            self.reply_json(200, {"total": len(hits), "totalHits": len(hits), "hits": hits})

    def _hit(self, video: FakeVideo) -> dict[str, Any]:
        largest_first = sorted(
            video.files, key=lambda name: -self.media[name].width_px * self.media[name].height_px
        )
        sizes = {size: self._size(None) for size in SIZE_NAMES}
        # At most four sizes: zip stops at the shorter of the two lists on purpose.
        pairs = zip(SIZE_NAMES, largest_first, strict=False)
        sizes.update({size: self._size(name) for size, name in pairs})
        for entry in sizes.values():
            entry["thumbnail"] = self.still_link(video) if entry["url"] else ""
        return {
            "id": video.video_id,
            "pageURL": f"https://pixabay.com/videos/id-{video.video_id}/",
            "type": "film",
            "tags": video.tags,
            "duration": video.duration_s,
            "videos": sizes,
            "views": 10,
            "downloads": 2,
            "likes": 1,
            "comments": 0,
            "user_id": 1,
            "user": "fake",
            "userImageURL": "",
        }

    def _size(self, name: str | None) -> dict[str, Any]:
        # A size Pixabay does not have comes back empty, not missing.
        if name is None:
            return {"url": "", "width": 0, "height": 0, "size": 0, "thumbnail": ""}
        media: MediaFile = self.media[name]
        return {
            "url": self.link(name),
            "width": media.width_px,
            "height": media.height_px,
            "size": media.path.stat().st_size,
            "thumbnail": "",
        }

    def _reply_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def handler(
    *, videos: list[FakeVideo], media: dict[str, MediaFile], failure: str | None = None,
    api_key: str = "test-key",
) -> type[MediaHandler]:  # fmt: skip
    """A handler class configured for one test; the API's base URL is `<server>/api`."""
    return pexels.handler(
        videos=videos, media=media, failure=failure, api_key=api_key, base=PixabayHandler
    )
