"""The errors of the pipeline and its providers: each says whether running the job again could
succeed, and a provider's names the service that failed."""

from __future__ import annotations


class PipelineError(Exception):
    """A stage failed. `retryable` says whether running the same job again could succeed."""

    def __init__(self, message: str, *, retryable: bool, stage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.stage = stage


class ProviderError(PipelineError):
    """`Pexels: the API key was refused (HTTP 401)` — the provider's name leads the message, so a
    job event tells the user which service failed."""

    def __init__(self, provider: str, message: str, *, retryable: bool, stage: str) -> None:
        super().__init__(f"{provider}: {message}", retryable=retryable, stage=stage)
        self.provider = provider
