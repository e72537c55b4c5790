"""A Pexels server as its API documents it: `GET /videos/search` with the key in `Authorization`,
answering `videos[].video_files[]` whose links point back at this server's `/files/`."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from app.settings import find_ffmpeg

# Failure modes a test can ask for: the search answers 401, 429 once (Retry-After: 0) then
# succeeds, 500 always, or no results; file downloads stop early once or always (Content-Length
# larger than the body, connection closed), or run on without a length past any sane limit.
FAILURES = (
    "401", "429-once", "500", "empty", "truncate-once", "truncate-always", "oversize",
)  # fmt: skip
OVERSIZE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class MediaFile:
    path: Path
    width_px: int
    height_px: int


@dataclass(frozen=True)
class FakeVideo:
    video_id: int
    duration_s: int
    files: tuple[str, ...]  # names in the handler's `media`
    tags: str = "nature"


FRAME = "s=288x512:r=30"  # the size and rate of the files `encode_videos` makes


def encode_videos(
    folder: Path, videos: Sequence[FakeVideo], graph: Callable[[FakeVideo], str]
) -> dict[str, MediaFile]:
    """Each video's first file, H.264 from the lavfi `graph(video)` (FRAME, for the video's
    duration): what a handler serves."""
    served = {}
    for video in videos:
        name = video.files[0]
        subprocess.run(
            [find_ffmpeg(), "-v", "error", "-f", "lavfi",
             "-i", graph(video),
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             str(folder / name)],
            check=True, timeout=60,
        )  # fmt: skip
        served[name] = MediaFile(folder / name, 288, 512)
    return served


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class MediaHandler(BaseHTTPRequestHandler):
    """Serves `/files/<name>` and records every request; subclasses answer the search."""

    api_key: ClassVar[str] = "test-key"
    videos: ClassVar[list[FakeVideo]] = []
    media: ClassVar[dict[str, MediaFile]] = {}
    failure: ClassVar[str | None] = None
    requests: ClassVar[list[Recorded]] = []
    failures_left: ClassVar[dict[str, int]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.requests.append(Recorded(url.path, query, dict(self.headers.items())))
        if url.path.startswith("/files/"):
            self._send_file(url.path.removeprefix("/files/"))
        elif url.path.startswith("/stills/"):
            self._send_still(url.path.removeprefix("/stills/").removesuffix(".jpg"))
        else:
            self.search(url.path, query)

    def search(self, path: str, query: dict[str, str]) -> None:
        raise NotImplementedError

    def fail_once(self, failure: str) -> bool:
        """True the first time a `…-once` failure is asked for, and every time for the rest."""
        if self.failure != failure and self.failure != failure.replace("-once", "-always"):
            return False
        if self.failure.endswith("-always"):
            return True
        with self.lock:
            left = self.failures_left.setdefault(failure, 1)
            self.failures_left[failure] = left - 1
        return left > 0

    def link(self, name: str) -> str:
        return f"http://{self.headers['Host']}/files/{name}"

    def reply_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def still_link(self, video: FakeVideo) -> str:
        """Where the video's still is served (its first file's first frame, as a JPEG): not
        below /files/, so a test counting downloads counts videos only."""
        return f"http://{self.headers['Host']}/stills/{video.video_id}.jpg"

    def _send_still(self, video_id: str) -> None:
        video = next((v for v in self.videos if str(v.video_id) == video_id), None)
        if video is None:
            self.reply_json(404, {"error": "Not Found"})
            return
        data = subprocess.run(
            [find_ffmpeg(), "-v", "error", "-i", str(self.media[video.files[0]].path),
             "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", "-"],
            capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, name: str) -> None:
        media = self.media.get(name)
        if media is None:
            self.reply_json(404, {"error": "Not Found"})
            return
        data = media.path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if self.failure == "oversize":
            # No Content-Length: the client can only notice the size while streaming.
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data + bytes(OVERSIZE_BYTES))
        elif self.fail_once("truncate-once"):
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def orientation_of(video: FakeVideo, media: dict[str, MediaFile]) -> str:
    largest = max((media[name] for name in video.files), key=lambda m: m.width_px * m.height_px)
    if largest.width_px == largest.height_px:
        return "square"
    return "portrait" if largest.height_px > largest.width_px else "landscape"


class PexelsHandler(MediaHandler):
    def search(self, path: str, query: dict[str, str]) -> None:
        if path.startswith("/videos/videos/"):  # one video by its id
            self._lookup(path.removeprefix("/videos/videos/"))
        elif path != "/videos/search":
            self.reply_json(404, {"error": "Not Found"})
        elif self.failure == "401" or self.headers.get("Authorization") != self.api_key:
            self.reply_json(401, {"error": "Unauthorized"})
        elif self.fail_once("429-once"):
            self.reply_json(429, {"error": "Rate limit exceeded"}, {"Retry-After": "0"})
        elif self.failure == "500":
            self.reply_json(500, {"error": "Internal Server Error"})
        else:
            wanted = query.get("orientation")
            found = [
                video
                for video in ([] if self.failure == "empty" else self.videos)
                if wanted is None or orientation_of(video, self.media) == wanted
            ][: int(query.get("per_page", "15"))]
            self.reply_json(200, self._page(found, query))

    def _lookup(self, video_id: str) -> None:
        found = [video for video in self.videos if str(video.video_id) == video_id]
        if self.headers.get("Authorization") != self.api_key:
            self.reply_json(401, {"error": "Unauthorized"})
        elif not found:
            self.reply_json(404, {"status": 404, "code": "not_found"})
        else:
            self.reply_json(200, self._video(found[0]))

    def _page(self, videos: list[FakeVideo], query: dict[str, str]) -> dict[str, Any]:
        return {
            "page": 1,
            "per_page": int(query.get("per_page", "15")),
            "total_results": len(videos),
            "url": f"https://www.pexels.com/search/videos/{query.get('query', '')}/",
            "videos": [self._video(video) for video in videos],
        }

    def _video(self, video: FakeVideo) -> dict[str, Any]:
        files = [self.media[name] for name in video.files]
        largest = max(files, key=lambda m: m.width_px * m.height_px)
        video_files: list[dict[str, Any]] = [
            {
                "id": video.video_id * 100 + index,
                "quality": "hd" if min(media.width_px, media.height_px) >= 720 else "sd",
                "file_type": "video/mp4",
                "width": media.width_px,
                "height": media.height_px,
                "fps": 30,
                "link": self.link(name),
            }
            for index, (name, media) in enumerate(zip(video.files, files, strict=True))
        ]
        # Pexels also lists an HLS playlist without a size: clients must skip it.
        video_files.append(
            {"id": video.video_id * 100 + 99, "quality": "hls", "file_type": "video/mp4",
             "width": None, "height": None, "fps": None, "link": self.link("playlist.m3u8")}
        )  # fmt: skip
        return {
            "id": video.video_id,
            "width": largest.width_px,
            "height": largest.height_px,
            "url": f"https://www.pexels.com/video/{video.tags}-{video.video_id}/",
            "image": self.still_link(video),
            "duration": video.duration_s,
            "user": {"id": 1, "name": "Fake Filmer", "url": "https://www.pexels.com/@fake"},
            "video_files": video_files,
            "video_pictures": [],
        }


def handler(
    *, videos: list[FakeVideo], media: dict[str, MediaFile], failure: str | None = None,
    api_key: str = "test-key", base: type[MediaHandler] = PexelsHandler,
) -> type[MediaHandler]:  # fmt: skip
    """A handler class configured for one test; its `requests` list records what was asked."""
    assert failure is None or failure in FAILURES, failure
    attributes = {
        "videos": videos, "media": media, "failure": failure, "api_key": api_key,
        "requests": [], "failures_left": {}, "lock": threading.Lock(),
    }  # fmt: skip
    return type(f"Configured{base.__name__}", (base,), attributes)
