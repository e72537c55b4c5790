"""LLM chat: the LLM protocol, Ollama's `/api/chat`, and any OpenAI-compatible server."""

from __future__ import annotations

import ast
import json
import re
import time
from typing import Any, Protocol

import httpx

from worker.errors import ProviderError
from worker.options import LLMOptions
from worker.providers.http import DEFAULT_ATTEMPTS, Sleep, redact, request_json

# LLM errors only escape from the script stage: terms and metadata fall back to offline text.
STAGE = "script"
CONNECT_TIMEOUT_S = 10.0
# Reasoning models (deepseek-r1, qwen3) put their thinking before the answer.
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)```", re.DOTALL)

Messages = list[dict[str, str]]


class LLM(Protocol):
    """A chat model. `name` leads error messages ("Ollama: …")."""

    name: str

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        json_mode: bool = False,
        temperature: float = 0.7,
    ) -> str: ...


class _ChatClient:
    """What both protocols share: the HTTP call, its errors, and the answer's clean-up."""

    name = "LLM"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        timeout_s: float = 120.0,
        attempts: int = DEFAULT_ATTEMPTS,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.sleep = sleep

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        url = self.base_url + path
        timeout = httpx.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s))
        hooks = {"response": [self._explain_refusal]}
        try:
            with httpx.Client(timeout=timeout, headers=headers, event_hooks=hooks) as client:
                return request_json(
                    client, "POST", url, provider=self.name, stage=STAGE,
                    attempts=self.attempts, sleep=self.sleep, json=body,
                    secrets=_credentials(headers),
                )  # fmt: skip
        except ProviderError as exc:
            if _caused_by(exc, httpx.ConnectError):
                raise ProviderError(
                    self.name, self._unreachable_hint(redact(self.base_url)), retryable=False,
                    stage=STAGE,
                ) from exc  # fmt: skip
            raise

    def _explain_refusal(self, response: httpx.Response) -> None:
        """A hook for refusals whose body says more than request_json's generic message."""

    def _unreachable_hint(self, url: str) -> str:
        return f"could not connect to {url}"

    def _answer(self, content: object) -> str:
        text = _THINKING.sub("", content).strip() if isinstance(content, str) else ""
        if not text:
            raise ProviderError(self.name, "answered with empty text", retryable=True, stage=STAGE)
        return text


class OllamaChat(_ChatClient):
    """Ollama's documented `POST /api/chat`, unstreamed."""

    name = "Ollama"

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        json_mode: bool = False,
        temperature: float = 0.7,
    ) -> str:
        body: dict[str, Any] = {
            "model": model or self.model,
            "messages": messages,
            "stream": False,
            "options": {"temperature": temperature},
        }
        if json_mode:
            body["format"] = "json"
        answer = self._post("/api/chat", body, {})
        message = answer.get("message") if isinstance(answer, dict) else None
        return self._answer(message.get("content") if isinstance(message, dict) else None)

    def _explain_refusal(self, response: httpx.Response) -> None:
        # Ollama answers 404 {"error": "model 'x' not found"} for a model that is not pulled.
        if response.status_code != 404 or "/api/chat" not in response.request.url.path:
            return
        response.read()
        error = _json_field(response, "error")
        if "model" not in error.lower():
            return
        model = json.loads(response.request.content or b"{}").get("model", "")
        raise ProviderError(
            self.name,
            f"the model {model!r} is not installed ({error}): run `ollama pull {model}` "
            "or choose an installed model (GET /api/models)",
            retryable=False,
            stage=STAGE,
        )

    def _unreachable_hint(self, url: str) -> str:
        return f"could not connect to Ollama at {url}: is it running (`ollama serve`)?"


class OpenAIChat(_ChatClient):
    """`POST {base}/chat/completions` on OpenAI, LM Studio, vLLM or llama.cpp's server (base
    ends in /v1)."""

    name = "OpenAI-compatible server"

    def __init__(self, base_url: str, *, model: str, api_key: str = "", **kwargs: Any) -> None:
        super().__init__(base_url, model=model, **kwargs)
        self.api_key = api_key

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        json_mode: bool = False,
        temperature: float = 0.7,
    ) -> str:
        body: dict[str, Any] = {
            "model": model or self.model,
            "messages": messages,
            "temperature": temperature,
        }
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        answer = self._post("/chat/completions", body, headers)
        choices = answer.get("choices") if isinstance(answer, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else {}
        message = first.get("message") if isinstance(first, dict) else None
        return self._answer(message.get("content") if isinstance(message, dict) else None)

    def _unreachable_hint(self, url: str) -> str:
        return (
            f"could not connect to the OpenAI-compatible server at {url}: is it running, and does "
            "MONEYPRINTER_OPENAI_BASE_URL end in /v1?"
        )


def llm_from_options(options: LLMOptions) -> LLM | None:
    """The configured client; None for provider `none` (the request must carry a script)."""
    common: dict[str, Any] = {"model": options.model, "timeout_s": options.timeout_s}
    if options.provider == "ollama":
        return OllamaChat(options.base_url, **common)
    if options.provider == "openai":
        return OpenAIChat(options.base_url, api_key=options.api_key, **common)
    return None


def parse_json_reply(text: str) -> Any | None:
    """The JSON value in an LLM's answer, read leniently: code fences, text around it, Python
    literals with single quotes. None when there is none."""
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    for candidate in candidates:
        for piece in (candidate.strip(), *_bracketed(candidate)):
            value = _loads(piece)
            if value is not None:
                return value
    return None


def _bracketed(text: str) -> list[str]:
    """From the first opening bracket to the last matching closing one, object or list."""
    spans = []
    for opening, closing in ("{}", "[]"):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            spans.append(text[start : end + 1])
    return sorted(spans, key=lambda span: text.find(span))


def _loads(text: str) -> Any | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        # Models often answer with Python's quoting (['a', 'b']); literal_eval runs no code.
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (dict, list, str)) else None


def _json_field(response: httpx.Response, key: str) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _credentials(headers: dict[str, str]) -> list[str]:
    """What a request's headers carry that an error must never repeat: the key, bare and whole."""
    values = [value.strip() for value in headers.values()]
    return values + [value.removeprefix("Bearer ").strip() for value in values]


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__
    return False
