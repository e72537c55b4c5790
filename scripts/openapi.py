"""`make api-types`' first half: write the API's OpenAPI document to web/openapi.json.

The document is built from create_app() without a server, sorted and indented so that a change to
the API shows as a readable diff; web/'s `npm run api:types` makes the page's types from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.main import create_app
from app.settings import Settings

OPENAPI_JSON = Path(__file__).resolve().parents[1] / "web" / "openapi.json"


def document() -> str:
    """The app's OpenAPI document as the checked-in file holds it."""
    # Settings of its own, not this machine's environment or .env: the document describes the
    # code, and a production .env (which needs an API key) must not stop it being written.
    app = create_app(Settings(_env_file=None, env="development"))  # type: ignore[call-arg]
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    OPENAPI_JSON.write_text(document(), encoding="utf-8")
    print(f"wrote {OPENAPI_JSON}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
