"""The MoneyPrinter client: the public HTTP API from Python (`MoneyPrinterClient`, in `api.py`)
and the `moneyprinter generate | jobs | cancel | retry` commands (`commands.py`).

It stands apart from the service it talks to: it imports httpx, pydantic-settings and the
standard library, never the rest of `app` or `worker` (tests/unit/test_layering.py), so a script
that uses it loads neither FastAPI nor SQLAlchemy.
"""

from app.client.api import ApiError, JobEvent, MoneyPrinterClient, StreamEnd

__all__ = ["ApiError", "JobEvent", "MoneyPrinterClient", "StreamEnd"]
