"""Pydantic's validation errors as one message that names the field, as the envelope wants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUBJECT_REQUIRED = "videoSubject is required."
_REQUIRED_TYPES = {"missing", "string_too_short"}


def describe_validation_error(errors: Sequence[Any], *, path: str) -> str:
    """The first problem, as `field: what is wrong`. A missing or empty `videoSubject` (or no body
    at all on /api/generate) keeps the original's exact message."""
    if not errors:
        return "Invalid request."
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc == ("body", "videoSubject") and error.get("type") in _REQUIRED_TYPES:
            return SUBJECT_REQUIRED
        if loc == ("body",) and error.get("type") == "missing" and path.endswith("/generate"):
            return SUBJECT_REQUIRED
    error = errors[0]
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "Request body is not valid JSON."
    if loc == ("body",):
        if kind == "missing":
            return "Request body is required."
        if kind == "value_error":  # a check across fields, whose message names them
            return str(error.get("msg", "")).removeprefix("Value error, ")
        return "Request body must be a JSON object."
    field = ".".join(str(part) for part in loc[1:]) if len(loc) > 1 else str(loc[0] if loc else "")
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if kind == "missing":
        message = "is required"
    where = {"query": "query parameter ", "header": "header ", "path": "path parameter "}.get(
        str(loc[0]) if loc else "", ""
    )
    return f"{where}{field}: {message}"
