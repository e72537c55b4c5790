"""A bad setting, as `moneyprinter migrate` reports it: the variable and what is wrong with it,
never a value (pydantic's own message repeats every input, API keys included)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.processes import moneyprinter_command

SECRET = "sk-live-Zx9Yw8Vu7Ts6Rq5Po4"
EXIT_BAD_CONFIG = 2


def migrate(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith("MONEYPRINTER_")}  # fmt: skip
    env = {**clean, "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"), **settings}
    return subprocess.run(
        [*moneyprinter_command(), "migrate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_secret_pasted_into_the_wrong_setting_is_named_not_shown(tmp_path: Path) -> None:
    result = migrate(tmp_path, MONEYPRINTER_PORT=SECRET, MONEYPRINTER_PIXABAY_API_KEY=SECRET)

    assert result.returncode == EXIT_BAD_CONFIG
    assert result.stderr == (
        "moneyprinter: bad configuration:\n"
        "  MONEYPRINTER_PORT: Input should be a valid integer, unable to parse string as an "
        "integer\n"
    )
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()  # nothing was migrated


def test_a_refused_configuration_shows_none_of_the_keys_it_holds(tmp_path: Path) -> None:
    # The production guard's error is about the whole configuration: pydantic's text would
    # repeat all of it.
    result = migrate(tmp_path, MONEYPRINTER_ENV="production", OPENAI_API_KEY=SECRET)

    assert result.returncode == EXIT_BAD_CONFIG
    assert result.stderr == (
        "moneyprinter: bad configuration:\n"
        "  MONEYPRINTER_API_KEY must be set when MONEYPRINTER_ENV=production\n"
    )
