"""The one error a provider raises: it names the provider, and says whether a retry could help."""

from __future__ import annotations

from worker.pipeline.base import PipelineError


class ProviderError(PipelineError):
    """`Pexels: the API key was refused (HTTP 401)` — the provider's name leads the message, so a
    job event tells the user which service failed."""

    def __init__(self, provider: str, message: str, *, retryable: bool, stage: str) -> None:
        super().__init__(f"{provider}: {message}", retryable=retryable, stage=stage)
        self.provider = provider
