"""Errors that carry their own HTTP status; one handler renders them in the API's envelope."""

from __future__ import annotations


class AppError(Exception):
    """An error the API answers with `{"status": "error", "message": …}` and `status_code`."""

    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AppError):
    status_code = 400


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class PayloadTooLarge(AppError):
    status_code = 413


class TooManyRequests(AppError):
    status_code = 429


class BadGateway(AppError):
    status_code = 502


class ServiceUnavailable(AppError):
    status_code = 503


class JobNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Job not found.")


class BatchNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Batch not found.")


class JobNotRetryable(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(f"Job is {status}; only failed or cancelled jobs can be retried.")


class NoActiveJob(NotFound):
    def __init__(self) -> None:
        super().__init__("No active job found.")


class QueueFull(TooManyRequests):
    def __init__(self, *, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"The queue is full ({limit:,} jobs waiting, the server's limit); "
            f"try again in {retry_after_s} s."
        )
        self.headers = {"Retry-After": str(retry_after_s)}
