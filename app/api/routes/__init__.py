"""One router module per resource."""

from app.schemas import ErrorResponse

PUBLIC_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Bad input; the message names the field"},
    500: {"model": ErrorResponse, "description": "Internal error"},
}
ERRORS: dict[int | str, dict[str, object]] = {
    **PUBLIC_ERRORS,
    401: {
        "model": ErrorResponse,
        "description": "API key (or the URL token) missing or wrong, when the server has a key",
    },
}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorResponse, "description": "Not found"}
}
