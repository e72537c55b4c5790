"""The LLM models on offer (from Ollama)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import SettingsDep
from app.api.routes import ERRORS
from app.ollama import OllamaUnavailable, list_models
from app.schemas import ModelsResponse

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/models", response_model=ModelsResponse, responses={**ERRORS}, summary="LLM models")
async def get_models(settings: SettingsDep) -> ModelsResponse:
    """Ollama's installed models and the configured default. When Ollama cannot be reached the
    answer is, as in the original, `status: error` with a message and the default model (HTTP 200,
    so a page can still offer the default)."""
    default = settings.ollama_model
    try:
        names = await list_models(settings.ollama_base_url)
    except OllamaUnavailable as exc:
        return ModelsResponse(status="error", message=str(exc), models=[default], default=default)
    return ModelsResponse(status="success", models=names, default=default)
