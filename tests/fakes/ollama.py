"""An Ollama server as its API documents it: `GET /api/tags` lists the local models, `POST
/api/chat` answers a chat (streamed as NDJSON unless `stream` is false)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

# A scripted chat answer: the assistant's text, or an HTTP error status.
Reply = str | int


class OllamaHandler(BaseHTTPRequestHandler):
    models: ClassVar[list[str]] = ["llama3.1:8b", "mistral:7b"]
    fail_with_status: ClassVar[int | None] = None
    # Answered in order, the last one repeated; each test's handler class has its own lists.
    replies: ClassVar[list[Reply]] = ["The moon pulls the sea. The sea follows."]
    received: ClassVar[list[dict[str, Any]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        if self.fail_with_status is not None:
            self._reply(self.fail_with_status, {"error": "model runner crashed"})
        elif self.path == "/api/tags":
            self._reply(200, {"models": [self._model(name) for name in self.models]})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/api/chat":
            self._reply(404, {"error": "not found"})
            return
        request = json.loads(body)
        with self.lock:
            self.received.append(request)
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        model = request.get("model", "")
        if self.fail_with_status is not None:
            self._reply(self.fail_with_status, {"error": "model runner crashed"})
        elif model not in self.models:
            self._reply(404, {"error": f"model '{model}' not found"})
        elif isinstance(reply, int):
            self._reply(reply, {"error": "llama runner process has terminated: signal: killed"})
        elif request.get("stream", True):
            self._stream(model, reply)
        else:
            self._reply(200, self._chat(model, reply, done=True))

    def _stream(self, model: str, text: str) -> None:
        lines = [self._chat(model, word, done=False) for word in text.split(" ")]
        lines.append(self._chat(model, "", done=True))
        data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        self._send(200, data, "application/x-ndjson")

    @staticmethod
    def _chat(model: str, content: str, *, done: bool) -> dict[str, object]:
        answer: dict[str, object] = {
            "model": model,
            "created_at": "2026-10-01T12:00:00.000000Z",
            "message": {"role": "assistant", "content": content},
            "done": done,
        }
        if done:
            answer.update(done_reason="stop", total_duration=1_000_000, eval_count=12)
        return answer

    @staticmethod
    def _model(name: str) -> dict[str, object]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-10-01T12:00:00Z",
            "size": 4_661_224_676,
            "digest": "a" * 64,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B"},
        }

    def _reply(self, status: int, body: dict[str, object]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def handler(
    *,
    models: list[str] | None = None,
    fail_with_status: int | None = None,
    replies: list[Reply] | None = None,
) -> type[OllamaHandler]:
    """A handler class configured for one test; its `received` lists the chat requests."""
    return type(
        "ConfiguredOllama",
        (OllamaHandler,),
        {
            "models": models or OllamaHandler.models,
            "fail_with_status": fail_with_status,
            "replies": list(replies or OllamaHandler.replies),
            "received": [],
            "lock": threading.Lock(),
        },
    )
