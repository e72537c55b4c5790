"""One router module per resource."""

from app.schemas import ErrorResponse

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Bad input; the message names the field"},
    500: {"model": ErrorResponse, "description": "Internal error"},
}
MUTATION_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    401: {"model": ErrorResponse, "description": "API key missing or wrong (when one is set)"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "Not found"}
}
