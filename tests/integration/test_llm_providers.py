"""The LLM clients against loopback servers that speak Ollama's and OpenAI's chat protocols."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.domain import VideoSpec
from tests.fakes import ollama, openai_chat
from tests.fakes.server import serving
from worker.errors import ProviderError
from worker.options import LLMOptions
from worker.pipeline.script import write_script
from worker.providers.llm import OllamaChat, OpenAIChat, llm_from_options

MESSAGES = [{"role": "user", "content": "Write about tides."}]
KEY = "sk-test-123"


def ollama_client(url: str, delays_s: list[float] | None = None) -> OllamaChat:
    # Retries wait through `sleep`; recording the waits keeps the tests fast and shows them.
    waits = delays_s if delays_s is not None else []
    return OllamaChat(url, model="llama3.1:8b", timeout_s=5, sleep=waits.append)


def openai_client(
    url: str, *, api_key: str = KEY, delays_s: list[float] | None = None
) -> OpenAIChat:
    waits = delays_s if delays_s is not None else []
    return OpenAIChat(
        url + "/v1", model="gpt-4o-mini", api_key=api_key, timeout_s=5, sleep=waits.append
    )


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL where nothing listens any more."""
    with serving(ollama.handler()) as url:
        pass
    yield url


# Ollama


def test_ollama_answers_a_chat_unstreamed() -> None:
    fake = ollama.handler(replies=["<think>hmm</think>\nThe moon pulls the sea."])
    with serving(fake) as url:
        text = ollama_client(url).chat(MESSAGES, model="mistral:7b", temperature=0.2)

    assert text == "The moon pulls the sea."
    [request] = fake.received
    assert request["model"] == "mistral:7b"
    assert request["stream"] is False
    assert request["messages"] == MESSAGES
    assert request["options"] == {"temperature": 0.2}
    assert "format" not in request


def test_ollama_json_mode_asks_for_json_with_the_default_model() -> None:
    fake = ollama.handler(replies=['{"terms": ["tide pool"]}'])
    with serving(fake) as url:
        text = ollama_client(url).chat(MESSAGES, json_mode=True)

    assert text == '{"terms": ["tide pool"]}'
    assert fake.received[0]["format"] == "json"
    assert fake.received[0]["model"] == "llama3.1:8b"


def test_ollama_missing_model_says_to_pull_it() -> None:
    fake = ollama.handler(models=["mistral:7b"])
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        ollama_client(url).chat(MESSAGES, model="qwen2.5:7b")

    assert caught.value.retryable is False
    assert caught.value.message.startswith("Ollama: the model 'qwen2.5:7b' is not installed")
    assert "ollama pull qwen2.5:7b" in caught.value.message
    assert len(fake.received) == 1  # a permanent refusal is not retried


def test_ollama_server_error_is_retried_then_retryable() -> None:
    fake = ollama.handler(replies=[500])
    delays_s: list[float] = []
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        ollama_client(url, delays_s).chat(MESSAGES)

    assert caught.value.retryable is True
    assert caught.value.stage == "script"
    assert caught.value.message == "Ollama: is unavailable (HTTP 500), after 3 attempts"
    assert len(fake.received) == 3 and len(delays_s) == 2


def test_ollama_server_error_then_success() -> None:
    fake = ollama.handler(replies=[500, "The tide turns."])
    with serving(fake) as url:
        assert ollama_client(url).chat(MESSAGES) == "The tide turns."
    assert len(fake.received) == 2


def test_ollama_empty_answer_is_retryable() -> None:
    with serving(ollama.handler(replies=["  "])) as url, pytest.raises(ProviderError) as caught:
        ollama_client(url).chat(MESSAGES)

    assert caught.value.retryable is True
    assert caught.value.message == "Ollama: answered with empty text"


def test_ollama_not_running_says_so(closed_url: str) -> None:
    with pytest.raises(ProviderError) as caught:
        ollama_client(closed_url).chat(MESSAGES)

    assert caught.value.retryable is False
    assert caught.value.message == (
        f"Ollama: could not connect to Ollama at {closed_url}: is it running (`ollama serve`)?"
    )


def test_script_written_through_ollama_uses_the_requests_model_and_subject() -> None:
    fake = ollama.handler(
        replies=[
            "Title: Tides\n\n**Narrator:** The moon pulls the sea. The sea follows it twice a day."
        ]
    )
    spec = VideoSpec(
        video_subject="tides", ai_model="mistral:7b", language="de", paragraph_number=2
    )
    with serving(fake) as url:
        llm = llm_from_options(LLMOptions(provider="ollama", base_url=url, model="llama3.1:8b"))
        script = write_script(spec, llm=llm)

    assert script == "The moon pulls the sea. The sea follows it twice a day."
    [request] = fake.received
    assert request["model"] == "mistral:7b"
    prompt = request["messages"][-1]["content"]
    assert "tides" in prompt and "2 paragraphs" in prompt and "German" in prompt


# OpenAI-compatible


def test_openai_answers_with_the_key_and_json_mode() -> None:
    fake = openai_chat.handler(replies=['{"title": "Tides"}'], api_key=KEY)
    with serving(fake) as url:
        text = openai_client(url).chat(MESSAGES, json_mode=True, temperature=0.3)

    assert text == '{"title": "Tides"}'
    [request] = fake.received
    assert request["model"] == "gpt-4o-mini"
    assert request["messages"] == MESSAGES
    assert request["temperature"] == 0.3
    assert request["response_format"] == {"type": "json_object"}
    assert fake.headers_received[0]["Authorization"] == f"Bearer {KEY}"


def test_openai_without_a_key_sends_no_authorization() -> None:
    fake = openai_chat.handler(replies=["The tide turns."])
    with serving(fake) as url:
        assert openai_client(url, api_key="").chat(MESSAGES) == "The tide turns."
    assert "Authorization" not in fake.headers_received[0]
    assert "response_format" not in fake.received[0]


def test_openai_refused_key_is_permanent() -> None:
    fake = openai_chat.handler(api_key=KEY)
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        openai_client(url, api_key="sk-wrong").chat(MESSAGES)

    assert caught.value.retryable is False
    assert caught.value.message == ("OpenAI-compatible server: the API key was refused (HTTP 401)")
    assert "sk-wrong" not in caught.value.message


def test_openai_rate_limit_is_retried() -> None:
    fake = openai_chat.handler(replies=[429, "The tide turns."])
    delays_s: list[float] = []
    with serving(fake) as url:
        assert openai_client(url, delays_s=delays_s).chat(MESSAGES) == "The tide turns."
    assert len(fake.received) == 2 and len(delays_s) == 1


def test_openai_server_error_persisting_is_retryable_and_names_the_server() -> None:
    fake = openai_chat.handler(replies=[500])
    with serving(fake) as url, pytest.raises(ProviderError) as caught:
        openai_client(url).chat(MESSAGES)

    assert caught.value.retryable is True
    assert caught.value.provider == "OpenAI-compatible server"
    assert caught.value.message == (
        "OpenAI-compatible server: is unavailable (HTTP 500), after 3 attempts"
    )
    assert len(fake.received) == 3


@pytest.mark.parametrize("reply", [None, ""], ids=["no choices", "empty content"])
def test_openai_empty_answer_is_retryable(reply: str | None) -> None:
    with (
        serving(openai_chat.handler(replies=[reply])) as url,
        pytest.raises(ProviderError) as caught,
    ):
        openai_client(url).chat(MESSAGES)

    assert caught.value.retryable is True
    assert caught.value.message == "OpenAI-compatible server: answered with empty text"


def test_openai_server_not_running_says_so(closed_url: str) -> None:
    with pytest.raises(ProviderError) as caught:
        openai_client(closed_url).chat(MESSAGES)

    assert caught.value.retryable is False
    assert caught.value.message.startswith(
        f"OpenAI-compatible server: could not connect to the OpenAI-compatible server at "
        f"{closed_url}/v1"
    )
    assert "MONEYPRINTER_OPENAI_BASE_URL" in caught.value.message


def test_clients_follow_the_options() -> None:
    assert llm_from_options(LLMOptions(provider="none")) is None
    local = llm_from_options(LLMOptions(provider="ollama", base_url="http://h:11434/", model="m"))
    assert isinstance(local, OllamaChat) and local.name == "Ollama"
    assert local.base_url == "http://h:11434" and local.model == "m"
    remote = llm_from_options(
        LLMOptions(provider="openai", base_url="http://h/v1", model="g", api_key="k", timeout_s=9)
    )
    assert isinstance(remote, OpenAIChat) and remote.name == "OpenAI-compatible server"
    assert remote.api_key == "k" and remote.timeout_s == 9
