"""An OpenAI-compatible server as OpenAI documents it: `POST /v1/chat/completions`, with its
error bodies (401 invalid key, 429 rate limit with Retry-After, 500); `echo_authorization`: a
careless server whose 400 repeats the request's Authorization header and key."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

# A scripted answer: the assistant's text, an HTTP error status, or None for no choices at all.
Reply = str | int | None

ERRORS: dict[int, dict[str, object]] = {
    429: {
        "message": "Rate limit reached for requests",
        "type": "requests",
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
    },
}


class OpenAIChatHandler(BaseHTTPRequestHandler):
    api_key: ClassVar[str] = ""
    echo_authorization: ClassVar[bool] = False
    replies: ClassVar[list[Reply]] = ["The moon pulls the sea. The sea follows."]
    received: ClassVar[list[dict[str, Any]]] = []
    headers_received: ClassVar[list[dict[str, str]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/chat/completions":
            self._error(
                404,
                {
                    "message": f"Unknown request URL: POST {self.path}.",
                    "type": "invalid_request_error",
                },
            )
            return
        if self.api_key and self.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._error(401, {
                "message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key",
            })  # fmt: skip
            return
        if self.echo_authorization:
            self._error(400, echoed_authorization(self.headers.get("Authorization", "")))
            return
        request = json.loads(body)
        with self.lock:
            self.received.append(request)
            self.headers_received.append(dict(self.headers.items()))
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, int):
            self._error(reply, ERRORS.get(reply, {"message": "error", "type": "server_error"}))
        else:
            self._reply(200, self._completion(request.get("model", ""), reply))

    @staticmethod
    def _completion(model: str, text: str | None) -> dict[str, object]:
        choices = [] if text is None else [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ]  # fmt: skip
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_790_000_000,
            "model": model,
            "choices": choices,
            "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
        }

    def _error(self, status: int, error: dict[str, object]) -> None:
        # OpenAI asks clients to wait before retrying a rate-limited request.
        headers = {"Retry-After": "0"} if status == 429 else {}
        self._reply(status, {"error": error}, headers)

    def _reply(
        self, status: int, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def echoed_authorization(authorization: str) -> dict[str, object]:
    """A 400 error that repeats the credentials it was sent, whole and bare."""
    key = authorization.removeprefix("Bearer ")
    return {
        "message": f"Invalid request for key {key} (Authorization: {authorization})",
        "type": "invalid_request_error",
    }


def handler(
    *, replies: list[Reply] | None = None, api_key: str = "", echo_authorization: bool = False
) -> type[OpenAIChatHandler]:
    """A handler class configured for one test; its `received` lists the chat requests."""
    return type(
        "ConfiguredOpenAIChat",
        (OpenAIChatHandler,),
        {
            "api_key": api_key,
            "echo_authorization": echo_authorization,
            "replies": list(replies if replies is not None else OpenAIChatHandler.replies),
            "received": [],
            "headers_received": [],
            "lock": threading.Lock(),
        },
    )
