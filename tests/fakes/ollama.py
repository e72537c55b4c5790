"""An Ollama server as its API documents it: `GET /api/tags` lists the local models."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import ClassVar


class OllamaHandler(BaseHTTPRequestHandler):
    models: ClassVar[list[str]] = ["llama3.1:8b", "mistral:7b"]
    fail_with_status: ClassVar[int | None] = None

    def do_GET(self) -> None:
        if self.fail_with_status is not None:
            self._reply(self.fail_with_status, {"error": "model runner crashed"})
        elif self.path == "/api/tags":
            self._reply(200, {"models": [self._model(name) for name in self.models]})
        else:
            self._reply(404, {"error": "not found"})

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
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def handler(*, models: list[str] | None = None, fail_with_status: int | None = None) -> type:
    """A handler class configured for one test."""
    return type(
        "ConfiguredOllama",
        (OllamaHandler,),
        {"models": models or OllamaHandler.models, "fail_with_status": fail_with_status},
    )
