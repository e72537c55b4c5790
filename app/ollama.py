"""The little of Ollama the API needs: the installed models (`GET /api/tags`)."""

from __future__ import annotations

import httpx

TAGS_TIMEOUT_S = 3.0


class OllamaUnavailable(Exception):
    pass


async def list_models(base_url: str, *, timeout_s: float = TAGS_TIMEOUT_S) -> list[str]:
    """Names of the models Ollama has, as its `/api/tags` lists them."""
    url = base_url.rstrip("/") + "/api/tags"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url)
            response.raise_for_status()
            body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OllamaUnavailable(f"Could not reach Ollama at {base_url}: {exc}") from exc
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list):
        raise OllamaUnavailable(f"Ollama at {base_url} answered without a model list.")
    names = [
        str(model.get("name") or model.get("model")) for model in models if isinstance(model, dict)
    ]
    return [name for name in names if name and name != "None"]
