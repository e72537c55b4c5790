"""The errors of the pipeline and its providers: each says whether running the job again could
succeed, and a provider's names the service that failed."""

from __future__ import annotations

from datetime import datetime


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


class Deferred(Exception):
    """The job cannot go on before `until` (a quota to reset): back to the queue until then,
    without spending an attempt."""

    def __init__(self, until: datetime, message: str) -> None:
        super().__init__(message)
        self.until = until
        self.message = message
