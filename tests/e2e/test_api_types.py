"""The web page's API types against the API: the checked-in OpenAPI document (web/openapi.json) is
the app's, and the checked-in TypeScript (web/src/api/schema.d.ts) is what openapi-typescript
makes of it. Either drifting fails here; `make api-types` brings both back."""

from __future__ import annotations

import difflib
import importlib.util
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
OPENAPI_JSON = WEB / "openapi.json"
SCHEMA_TS = WEB / "src" / "api" / "schema.d.ts"
FIX = "run `make api-types` and commit the result"
GENERATE_TIMEOUT_S = 120
DIFF_LINES = 60


def _openapi_script() -> ModuleType:
    """scripts/openapi.py, whose document() is what `make api-types` writes."""
    spec = importlib.util.spec_from_file_location("openapi_script", REPO / "scripts" / "openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=expected_name,
        tofile=actual_name,
    )
    return "".join(list(lines)[:DIFF_LINES])


def _api_types_command(output: Path) -> list[str]:
    """`npm run api:types`'s own command, writing to `output` instead of the checked-in file, so
    that an option added to the script is checked too."""
    package = json.loads((WEB / "package.json").read_text(encoding="utf-8"))
    command = shlex.split(package["scripts"]["api:types"])
    assert "--output" in command, "the api:types script must name its file with --output"
    command[command.index("--output") + 1] = str(output)
    return command


def test_openapi_json_is_the_apps() -> None:
    checked_in = OPENAPI_JSON.read_text(encoding="utf-8")
    current = _openapi_script().document()
    assert checked_in == current, (
        f"web/openapi.json differs from the app's OpenAPI document: {FIX}.\n"
        + _diff(checked_in, current, "web/openapi.json", "create_app().openapi()")
    )


def test_schema_ts_is_generated_from_openapi_json(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs Node.js and npm (make setup)")
    if not (WEB / "node_modules").is_dir():
        pytest.skip("needs web/node_modules (cd web && npm ci)")
    generated = tmp_path / "schema.d.ts"
    # --offline --no: the package from web/node_modules only, never a download.
    subprocess.run(
        ["npm", "exec", "--offline", "--no", "--", *_api_types_command(generated)],
        cwd=WEB,
        check=True,
        capture_output=True,
        timeout=GENERATE_TIMEOUT_S,
    )
    checked_in = SCHEMA_TS.read_text(encoding="utf-8")
    current = generated.read_text(encoding="utf-8")
    assert checked_in == current, (
        f"web/src/api/schema.d.ts is not openapi-typescript's web/openapi.json: {FIX}.\n"
        + _diff(checked_in, current, "web/src/api/schema.d.ts", "openapi-typescript")
    )
