"""An OpenAI-compatible speech server: `POST /v1/audio/speech` answers with a real WAV."""

from __future__ import annotations

import io
import json
import math
import subprocess
import wave
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from tests.fakes.openai_chat import echoed_authorization

SECONDS_PER_CHAR = 0.05
TONE_HZ = 220.0
API_KEY = "sk-test-speech"


def tone_wav(duration_s: float, *, rate_hz: int = 24_000, channels: int = 1) -> bytes:
    """A 16-bit sine tone at half scale, as a complete WAV file."""
    frames = bytearray()
    for n in range(round(duration_s * rate_hz)):
        sample = round(16_000 * math.sin(2 * math.pi * TONE_HZ * n / rate_hz))
        frames += sample.to_bytes(2, "little", signed=True) * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate_hz)
        writer.writeframes(bytes(frames))
    return buffer.getvalue()


def spoken_wav(text: str) -> bytes:
    """`text` spoken by espeak-ng, as a 24 kHz mono WAV."""
    espeak = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout"], input=text.encode(), capture_output=True,
        check=True, timeout=60,
    )  # fmt: skip
    converted = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-ar", "24000", "-ac", "1", "-f", "wav",
         "pipe:1"],
        input=espeak.stdout, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return converted.stdout


class SpeechHandler(BaseHTTPRequestHandler):
    """`mode`: "ok", "unauthorized" (401), "busy-once" (429 then ok), "error" (500 always),
    "empty" (200 with a 0-byte body), "echo-authorization" (400 repeating the credentials it was
    sent), "speech" (real speech, by the espeak-ng program, resampled to 24 kHz as OpenAI's
    WAVs are, without any word times). `formats` cycle per request: (rate_hz, channels)."""

    mode: ClassVar[str] = "ok"
    formats: ClassVar[list[tuple[int, int]]] = [(24_000, 1)]
    requests: ClassVar[list[dict[str, Any]]]  # bodies and headers received, per configured class

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
        if self.path != "/v1/audio/speech":
            self._json(404, {"error": {"message": "not found"}})
        elif self.mode == "echo-authorization":
            authorization = self.headers.get("Authorization", "")
            self._json(400, {"error": echoed_authorization(authorization)})
        elif (
            self.headers.get("Authorization") != f"Bearer {API_KEY}" or self.mode == "unauthorized"
        ):
            self._json(401, {"error": {"message": "Incorrect API key provided"}})
        elif self.mode == "error":
            self._json(500, {"error": {"message": "The server had an error"}})
        elif self.mode == "busy-once" and len(self.requests) == 1:
            self._json(429, {"error": {"message": "Rate limit reached"}})
        elif self.mode == "empty":
            self._send(200, b"", "audio/wav")
        elif self.mode == "speech":
            self._send(200, spoken_wav(str(body.get("input", ""))), "audio/wav")
        else:
            rate_hz, channels = self.formats[(len(self.requests) - 1) % len(self.formats)]
            duration_s = SECONDS_PER_CHAR * len(str(body.get("input", "")))
            self._send(200, tone_wav(duration_s, rate_hz=rate_hz, channels=channels), "audio/wav")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def handler(
    *, mode: str = "ok", formats: list[tuple[int, int]] | None = None
) -> type[SpeechHandler]:
    """A handler class configured for one test; its `requests` list records what it received."""
    return type(
        "ConfiguredSpeech",
        (SpeechHandler,),
        {"mode": mode, "formats": formats or SpeechHandler.formats, "requests": []},
    )
